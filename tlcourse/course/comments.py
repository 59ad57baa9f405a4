"""The code cells' comments in an edition's language; the code itself stays as it is.

Both editions run the same code: names, strings the tests read and numbers are identical,
and only the text after ``#`` changes.  A language's comment catalog,
``i18n/<lang>/comments.json``, maps each English comment (its text after ``#``, stripped)
to its translation; one entry serves every notebook where the comment occurs (the
PyTorch and Keras twins share most).  nbgrader's markers (``### BEGIN SOLUTION``...)
and tool directives (``# noqa``, ``# type:``) are never translated.  A comment without a
translation stays English and ``missing`` lists it.
"""
from __future__ import annotations

import io
import json
import os
import re
import tempfile
import tokenize
from pathlib import Path

import nbformat

CATALOG = "comments.json"
# not prose: nbgrader's markers, linters' and type checkers' directives, shebangs
_KEPT = re.compile(r"^(#+ *(BEGIN|END) (SOLUTION|HIDDEN TESTS)|# *(noqa|type:|pragma|YOUR CODE HERE)|#!)")


def _comment_tokens(source: str) -> list[tokenize.TokenInfo]:
    """The comment tokens of a code cell (none where it is not Python: a magic, a syntax error)."""
    try:
        return [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type == tokenize.COMMENT and not _KEPT.match(t.string)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []


def _text(token: tokenize.TokenInfo) -> str:
    return token.string.lstrip("#").strip()


def english_comments(source: str) -> list[str]:
    """The translatable comments of a code cell, as catalog keys."""
    return [text for t in _comment_tokens(source) if (text := _text(t))]


def translate(source: str, table: dict[str, str]) -> str:
    """``source`` with each comment whose text ``table`` translates replaced (its ``#``
    and the spaces after it kept); every other character unchanged."""
    tokens = [t for t in _comment_tokens(source) if table.get(_text(t))]
    if not tokens:
        return source
    lines = source.splitlines(keepends=True)
    for token in reversed(tokens):            # right to left: earlier columns stay valid
        row, col = token.start
        hashes = re.match(r"#+ *", token.string).group(0)
        line = lines[row - 1]
        lines[row - 1] = line[:col] + hashes + table[_text(token)] + line[token.end[1]:]
    return "".join(lines)


def catalog_path(root: Path, lang: str) -> Path:
    return Path(root) / "i18n" / lang / CATALOG


def load(root: Path, lang: str) -> dict[str, str]:
    path = catalog_path(root, lang)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def save(root: Path, lang: str, table: dict[str, str]) -> None:
    """Write the catalog (sorted, indent 1, UTF-8), atomically."""
    path = catalog_path(root, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(dict(sorted(table.items())), f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def all_english(root: Path) -> dict[str, list[str]]:
    """{English comment: [notebooks]} over the course's source notebooks."""
    found: dict[str, list[str]] = {}
    for path in sorted((Path(root) / "source").glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                for text in english_comments(cell.source):
                    where = found.setdefault(text, [])
                    if path.stem not in where:
                        where.append(path.stem)
    return found


def missing(root: Path, lang: str) -> list[str]:
    """English comments of the source notebooks without a translation in ``lang``."""
    table = load(root, lang)
    return [text for text in all_english(root) if not table.get(text)]


def translate_notebook(nb, table: dict[str, str]):
    """``nb`` with its code cells' comments translated (in place; returned)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = translate(cell.source, table)
    return nb

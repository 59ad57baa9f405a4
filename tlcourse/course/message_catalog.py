"""The message catalogs of the package (``tlcourse/locale/<lang>/tlcourse.po``): what goes in
them, kept up to date with the code and the notebooks, and checked.

Three kinds of English text a student sees printed, each keyed as ``tlcourse.messages``
looks it up:

* the package's own messages, marked ``_("...")`` (Babel extracts them, no context);
* each multiple-choice option of the notebooks (the list in a cell whose grade id starts
  ``options_``) and each diagnostic's explanation (``quiz.reveal(..., why="...")``), context
  the question id (``quiz_tl_pre_2``);
* the messages of the notebooks' graded test cells (``assert ..., "message"`` and what
  ``feedback.check_returned`` asks to return), context ``test``; an f-string is a template
  whose fields are the expressions it formats (``{len(label_map)}``).

``update`` rewrites a language's catalog with every current English text, the
translations of those still there kept (a text no longer used is dropped; its
translation is not lost from git).  ``problems`` lists untranslated entries and
translations whose ``{fields}`` differ from the English.
"""
from __future__ import annotations

import ast
import io
import os
import re
import tempfile
from pathlib import Path

import nbformat

from tlcourse.messages import LOCALE, TEST_CONTEXT

DOMAIN = "tlcourse"
PACKAGE = Path(__file__).resolve().parents[1]
OPTIONS_PREFIX = "options_"
QUIZ_PREFIX = "quiz_"
_FIELD = re.compile(r"\{([^{}]*)\}")


def catalog_file(lang: str) -> Path:
    return LOCALE / lang / f"{DOMAIN}.po"


def package_messages() -> dict[tuple[str | None, str], list[str]]:
    """{(None, English): ["tlcourse/x.py", ...]} of every ``_("...")`` in the package."""
    from babel.messages.extract import extract

    found: dict[tuple[str | None, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        with open(path, "rb") as f:
            for _line, message, _comments, context in extract("python", f, keywords={"_": None}):
                if isinstance(message, str) and message:
                    # the file, not the line: a catalog that stays the same while code moves
                    where = path.relative_to(PACKAGE.parent).as_posix()
                    if where not in found.setdefault((context, message), []):
                        found[(context, message)].append(where)
    return found


def _template(node: ast.AST, source: str) -> str | None:
    """An assertion message as a catalog template: a string as it is, an f-string with each
    formatted expression as a field named by its source; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value).replace("{", "{{").replace("}", "}}"))
            elif isinstance(value, ast.FormattedValue):
                parts.append("{" + ast.get_source_segment(source, value.value) + "}")
        return "".join(parts)
    return None


def _grade_id(cell) -> str:
    return str((cell.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id", ""))


def notebook_messages(root: Path) -> dict[tuple[str | None, str], list[str]]:
    """{(context, English): [where]} of the options, explanations and graded tests'
    messages in ``root``'s source notebooks."""
    found: dict[tuple[str | None, str], list[str]] = {}

    def add(context, text, where):
        if text and text.strip():
            found.setdefault((context, text), []).append(where)

    for path in sorted((Path(root) / "source").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            grade_id = _grade_id(cell)
            if cell.cell_type != "code" or not grade_id:
                continue
            where = f"{path.relative_to(root).as_posix()}#{grade_id}"
            source = cell.source
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            meta = cell.metadata.get("nbgrader", {})
            if grade_id.startswith(OPTIONS_PREFIX):
                question = QUIZ_PREFIX + grade_id[len(OPTIONS_PREFIX):]
                for node in ast.walk(tree):
                    if isinstance(node, ast.List):
                        for item in node.elts:
                            add(question, _template(item, source), where)
            if not (meta.get("grade") and not meta.get("solution")):
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Assert) and node.msg is not None:
                    add(TEST_CONTEXT, _template(node.msg, source), where)
                elif isinstance(node, ast.Call):
                    name = ast.get_source_segment(source, node.func) or ""
                    if name.endswith("check_returned") and len(node.args) >= 3:
                        add(TEST_CONTEXT, _template(node.args[2], source), where)
                    if name.endswith("quiz.reveal"):
                        why = next((k.value for k in node.keywords if k.arg == "why"), None)
                        question = node.args[1].value if len(node.args) > 1 and \
                            isinstance(node.args[1], ast.Constant) else None
                        if why is not None and question:
                            add(question, _template(why, source), where)
    return found


def current(root: Path) -> dict[tuple[str | None, str], list[str]]:
    """Every English text the catalogs must translate, with where it is used."""
    return {**package_messages(), **notebook_messages(root)}


def read(lang: str):
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    path = catalog_file(lang)
    if not path.is_file():
        return Catalog(locale=lang, domain=DOMAIN)
    with open(path, "rb") as f:
        return read_po(f)


def fresh_catalog(root: Path, lang: str):
    """``lang``'s catalog as ``update`` writes it: every current English text, in the order
    of first use, with the translations the catalog has (its creation date kept, so an
    unchanged catalog is byte for byte the same)."""
    from babel.messages.catalog import Catalog

    old = read(lang)
    kept = {(m.context, m.id): m.string for m in old if m.id and isinstance(m.id, str)}
    fresh = Catalog(locale=lang, domain=DOMAIN, project="tlcourse", creation_date=old.creation_date,
                    revision_date=old.revision_date,
                    msgid_bugs_address="", header_comment=(
                        f"# The package's messages in {lang} (tlcourse/messages.py).\n"
                        f"# Made by `tlcourse i18n messages {lang}`: translate the msgstr lines;\n"
                        f"# keep every {{field}} of the English as it is."))
    for (context, text), where in sorted(current(root).items(), key=lambda kv: (kv[1][0], kv[0][1])):
        fresh.add(text, kept.get((context, text), ""), context=context,
                  locations=[(w, None) for w in where[:3]])
    return fresh


def catalog_bytes(catalog) -> bytes:
    from babel.messages.pofile import write_po

    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, omit_header=False, sort_output=False, no_location=False)
    return buffer.getvalue()


def update(root: Path, lang: str) -> tuple[int, int]:
    """Rewrite ``lang``'s catalog with every current English text (translations kept);
    (entries, untranslated)."""
    fresh = fresh_catalog(root, lang)
    path = catalog_file(lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(catalog_bytes(fresh))
    os.replace(tmp, path)
    entries = [m for m in fresh if m.id]
    return len(entries), sum(not m.string for m in entries)


def problems(root: Path, lang: str) -> list[str]:
    """One line per English text without a translation in ``lang``'s catalog, per
    translation whose fields differ from the English's, and per entry no longer used."""
    catalog = {(m.context, m.id): m.string for m in read(lang) if m.id and isinstance(m.id, str)}
    found = []
    for (context, text), where in current(root).items():
        translation = catalog.get((context, text))
        label = f"{catalog_file(lang).relative_to(PACKAGE.parent)}: {where[0]}: {text[:60]!r}"
        if not translation:
            found.append(f"{label}: not translated (`tlcourse i18n messages {lang}`, then "
                         "translate its msgstr)")
        elif sorted(_FIELD.findall(translation)) != sorted(_FIELD.findall(text)):
            found.append(f"{label}: the translation's {{fields}} differ from the English's")
    return found

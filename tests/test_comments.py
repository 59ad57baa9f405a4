"""The Hindi edition's code comments (issue 32): translated through i18n/hi/comments.json,
every other token of every code cell identical to the English, so both editions run, and
grade, the same code (test_i18n's twins grade one submission in both)."""
from __future__ import annotations

import nbformat
import pytest

from course import ROOT, code_tokens
from tlcourse.course import comments

LANG = "hi"
EDITION = ROOT / "editions" / LANG


def test_translate_changes_comments_only_and_keeps_markers():
    src = ("x = f('# not a comment')  # the base\n### BEGIN SOLUTION\n"
           "y = x   #   a comment\n# noqa: E501\n### END SOLUTION\n")
    out = comments.translate(src, {"the base": "आधार", "a comment": "एक टिप्पणी",
                                   "noqa: E501": "नहीं", "BEGIN SOLUTION": "नहीं"})
    assert out == ("x = f('# not a comment')  # आधार\n### BEGIN SOLUTION\n"
                   "y = x   #   एक टिप्पणी\n# noqa: E501\n### END SOLUTION\n")
    assert code_tokens(out) == code_tokens(src)
    assert comments.english_comments(src) == ["the base", "a comment"]
    assert comments.translate("%timeit f(  # magic", {"magic": "x"}) == "%timeit f(  # magic"


@pytest.mark.parametrize("part", ["source", "release", "notebooks"])
def test_hindi_code_cells_are_the_english_code_with_hindi_comments(part):
    table = comments.load(ROOT, LANG)
    english = sorted((ROOT / part).glob("*/*.ipynb"))
    assert english
    translated = 0
    for path in english:
        en = nbformat.read(path, as_version=4)
        hi = nbformat.read(EDITION / path.relative_to(ROOT), as_version=4)
        for e, h in zip(en.cells, hi.cells, strict=True):
            if e.cell_type != "code":
                continue
            assert code_tokens(h.source) == code_tokens(e.source), \
                f"{path.relative_to(ROOT)} cell {e.get('id')}: the Hindi code differs beyond comments"
            assert h.source == comments.translate(e.source, table)
            translated += h.source != e.source
    assert translated, f"no comment of {part}/ is in Hindi"


def test_every_english_comment_has_its_hindi():
    assert comments.missing(ROOT, LANG) == []

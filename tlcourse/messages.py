"""What the package says to a student, in the edition's language (gettext, ``.po`` catalogs).

Package code writes each student-facing message in English, marked for translation with
its fields named, and formats after translating::

    from tlcourse.messages import _
    log(_("epoch {epoch}/{epochs}: {seconds:.1f} s", epoch=e, epochs=n, seconds=s))

Babel extracts the marked strings (``tlcourse i18n messages``); a language's translations
are ``tlcourse/locale/<lang>/*.po`` (inside the package: the grading sandbox and a
``pip install`` see them; the notebook catalogs under ``i18n/<lang>/`` hold the
solutions' text and stay out of the sandbox).  A message without a translation is
said in English.

Text the package does not write but shows, keyed the same way:

* multiple-choice options (``quiz.ask``): the notebook's English option, its context
  the question id (``msgctxt "quiz_tl_pre_2"``);
* the messages of the notebooks' graded tests, shown by ``tlcourse.feedback``: their
  catalog entries are templates with the test's own expressions as fields
  (``there are 37 breeds, not {len(label_map)}``, context ``test``), matched against the
  message as raised, the values carried over into the translation.

The language: ``$TLCOURSE_LANGUAGE`` if set (``en``, ``hi``...), else the course's
setting ``tlcourse_language = "hi"`` in the ``nbgrader_config.py`` of the course root
around the working directory (each edition's config has it; nbgrader runs notebooks
inside the course, the grading sandbox writes the line), else English.  Code cells are
the same in every edition; only what they print changes.
"""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from tlcourse.settings import COURSE_CONFIG, course_setting, find_course_root

LOCALE = Path(__file__).resolve().parent / "locale"
ENGLISH = "en"
LANGUAGE_KEY = "tlcourse_language"          # the course setting in nbgrader_config.py
TEST_CONTEXT = "test"                        # msgctxt of the graded tests' messages
_FIELD = re.compile(r"\{([^{}]+)\}")


def language() -> str:
    """The language the package speaks here (see the module's docstring)."""
    chosen = os.environ.get("TLCOURSE_LANGUAGE")
    if chosen:
        return chosen
    root = find_course_root()
    if root is None:
        return ENGLISH
    return _course_language(root, (root / COURSE_CONFIG).stat().st_mtime_ns) or ENGLISH


@functools.lru_cache(maxsize=8)
def _course_language(root: Path, _mtime: int) -> str | None:
    """The course's setting, read once per version of its config (messages are many)."""
    return course_setting(root, LANGUAGE_KEY)


def available() -> list[str]:
    """The languages with a message catalog in the package (English needs none)."""
    return sorted(p.name for p in LOCALE.iterdir() if p.is_dir() and any(p.glob("*.po"))) \
        if LOCALE.is_dir() else []


@functools.lru_cache(maxsize=None)
def catalog(lang: str) -> dict[tuple[str | None, str], str]:
    """{(context, English): translation} of every translated, non-fuzzy entry of
    ``tlcourse/locale/<lang>/*.po`` (empty for English or a language without catalogs)."""
    from babel.messages.pofile import read_po

    table = {}
    for path in sorted((LOCALE / lang).glob("*.po")) if lang != ENGLISH else ():
        with open(path, "rb") as f:
            for message in read_po(f):
                if message.id and message.string and not message.fuzzy \
                        and isinstance(message.id, str):
                    table[(message.context, message.id)] = message.string
    return table


def translate(message: str, context: str | None = None, lang: str | None = None) -> str:
    """``message`` in ``lang`` (default: ``language()``), unformatted; itself if untranslated."""
    lang = lang or language()
    if lang == ENGLISH:
        return message
    return catalog(lang).get((context, message), message)


def _(message: str, **fields) -> str:
    """The student-facing ``message`` in the edition's language, formatted with ``fields``."""
    text = translate(message)
    return text.format(**fields) if fields else text


def figure_text(message: str, **fields) -> str:
    """Text drawn into a figure (titles, labels, the stand-in stamp): English in every
    edition, since Matplotlib does not shape Devanagari's conjuncts; formatted with ``fields``.
    Not extracted into the catalogs."""
    return message.format(**fields) if fields else message


def _template_pattern(template: str) -> re.Pattern:
    parts = _FIELD.split(template)        # literal, field, literal, field, ...
    return re.compile("".join(re.escape(p) if i % 2 == 0 else "(.+?)" for i, p in enumerate(parts))
                      + r"\Z", re.S)


@functools.lru_cache(maxsize=None)
def _test_templates(lang: str) -> list[tuple[re.Pattern, list[str], str]]:
    return [(_template_pattern(english), _FIELD.findall(english), hindi)
            for (context, english), hindi in catalog(lang).items() if context == TEST_CONTEXT]


def translate_raised(text: str, lang: str | None = None) -> str:
    """A graded test's message as raised, in ``lang``: the catalog's template that matches
    it, its fields filled with the values the English carried; itself if none matches."""
    lang = lang or language()
    if lang == ENGLISH or not text:
        return text
    exact = catalog(lang).get((TEST_CONTEXT, text))
    if exact is not None:
        return exact
    for pattern, fields, translation in _test_templates(lang):
        found = pattern.match(text)
        if found:
            values = dict(zip(fields, found.groups()))
            return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), translation)
    return text

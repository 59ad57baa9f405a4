"""The package's messages in the edition's language (issue 32): ``tlcourse.messages`` and
its catalogs (``tlcourse.course.message_catalog``)."""
from __future__ import annotations

import pytest

from course import ROOT
from tlcourse import messages
from tlcourse.course import message_catalog

LANG = "hi"


def test_the_catalog_is_complete_and_in_sync_with_the_code_and_notebooks():
    assert message_catalog.problems(ROOT, LANG) == []
    fresh = message_catalog.catalog_bytes(message_catalog.fresh_catalog(ROOT, LANG))
    assert fresh == message_catalog.catalog_file(LANG).read_bytes(), \
        "tlcourse/locale/hi/tlcourse.po is out of date: run `tlcourse i18n messages hi`"


def test_the_language_is_the_course_roots_setting_or_the_override(tmp_path, monkeypatch):
    monkeypatch.delenv("TLCOURSE_LANGUAGE", raising=False)
    monkeypatch.chdir(ROOT / "editions" / LANG / "release")
    assert messages.language() == LANG
    monkeypatch.chdir(ROOT / "release")
    assert messages.language() == "en"
    monkeypatch.chdir(tmp_path)             # outside any course
    assert messages.language() == "en"
    monkeypatch.setenv("TLCOURSE_LANGUAGE", LANG)
    assert messages.language() == LANG


def test_a_message_is_translated_then_formatted(monkeypatch):
    monkeypatch.setenv("TLCOURSE_LANGUAGE", LANG)
    hindi = messages._("{name} is still None: replace it with your answer", name="q1")
    assert hindi.startswith("q1") and "None" in hindi and "replace" not in hindi
    assert messages._("a message nobody translated {x}", x=1) == "a message nobody translated 1"
    monkeypatch.setenv("TLCOURSE_LANGUAGE", "en")
    assert messages._("{name} is still None: replace it with your answer", name="q1") == \
        "q1 is still None: replace it with your answer"


def test_a_tests_message_as_raised_finds_its_template_and_keeps_the_values(monkeypatch):
    monkeypatch.setenv("TLCOURSE_LANGUAGE", LANG)
    english = "there are 37 breeds, not 36"        # f"there are 37 breeds, not {len(label_map)}"
    hindi = messages.translate_raised(english)
    assert hindi != english and "36" in hindi and "37" in hindi
    assert messages.translate_raised("a message no test raises") == "a message no test raises"


def test_notebook_texts_are_keyed_by_question_and_templates_name_their_expressions():
    found = message_catalog.notebook_messages(ROOT)
    assert ("test", "there are 37 breeds, not {len(label_map)}") in found
    contexts = {context for context, _ in found}
    assert {"quiz_tl_pre_2", "quiz_adv_2", "quiz_pets_post_1"} <= contexts


@pytest.mark.parametrize("question", ["quiz_tl_pre_2", "quiz_tl_post_1", "quiz_adv_2",
                                      "quiz_pets_post_4"])
def test_every_option_is_shown_in_hindi_and_keeps_its_letter(question, capsys, monkeypatch):
    from tlcourse import quiz

    options = [text for (context, text) in message_catalog.notebook_messages(ROOT)
               if context == question]
    monkeypatch.setenv("TLCOURSE_LANGUAGE", LANG)
    quiz.ask(question, options)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(")")[0].strip() for line in lines] == list("abcdefgh"[:len(options)])
    assert all(any("\u0900" <= ch <= "\u097f" for ch in line) for line in lines), lines

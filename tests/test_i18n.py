"""The Hindi edition: catalogs current and complete, glossary followed, code and grading
identical to the English course.

* every markdown cell of every English notebook (and of START_HERE) has a Hindi entry
  whose hash is the English cell's current one: a failure names notebook and cell;
* the glossary is well formed and every translation follows it (``i18n.lint``);
* the generated edition (editions/hi/) has, for all six notebooks, the English version's
  cells, ids, grade ids, points and code, student and solution alike;
* through nbgrader (marked ``grading``): the Hindi pets_lab round trip (solution full
  marks, untouched zero), and a half-done Hindi submission scores exactly what the same
  answers score in English.
"""
import contextlib
import io
import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from course import ROOT, source_notebooks
from tlcourse.course import build as build_mod
from tlcourse.course import grade as grading
from tlcourse.course import i18n
from tlcourse.course.build import run_nbgrader

LANG = "hi"
EDITION = ROOT / i18n.EDITIONS / LANG
CATALOGS = ROOT / i18n.CATALOGS / LANG
KEYS = list(i18n.english_notebooks(ROOT))


# ------------------------------------------------------------------ catalogs

@pytest.mark.parametrize("key", KEYS)
def test_every_markdown_cell_has_a_current_translation(key):
    problems = [p for p in i18n.problems(ROOT, LANG) if p.notebook == key]
    assert not problems, ("translate these cells (`tlcourse i18n todo` prints "
                          "their English):\n" + "\n".join(map(str, problems)))


def test_catalog_files_are_in_the_one_format():
    files = sorted(CATALOGS.rglob("*.json"))
    assert {f.relative_to(CATALOGS).with_suffix("").as_posix() for f in files} == set(KEYS)
    for path in files:
        text = path.read_text(encoding="utf-8")
        cells = i18n.load_catalog(path)
        assert text == i18n.catalog_text(cells), f"{path}: not UTF-8, indent 1, keys sorted"
        assert all(set(e) == {"en_sha256", LANG} for e in cells.values()), path
        assert all(any("\u0900" <= ch <= "\u097f" for ch in e[LANG]) for e in cells.values()), \
            f"{path}: an entry without Devanagari"


def _tiny_course(tmp_path):
    """A course with one notebook (two markdown cells, one code cell) and its catalog."""
    root = tmp_path / "course"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\nThe `model` has 3 layers.", id="md-1"),
                nbformat.v4.new_code_cell("x = 1", id="code-1"),
                nbformat.v4.new_markdown_cell("Train the head.", id="md-2")]
    (root / "source" / "a").mkdir(parents=True)
    nbformat.write(nb, root / "source" / "a" / "N.ipynb")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    catalog = {cell.id: {"en_sha256": i18n.source_hash(cell.source), LANG: f"हिंदी {cell.id}"}
               for cell in nb.cells if cell.cell_type == "markdown"}
    i18n.save_catalog(i18n.catalog_path(root, LANG, "a/N"), catalog)
    return root, nb


def _copy_as_generated(course, out):
    """Stands in for nbgrader's generate steps (tests/test_structure.py runs the real ones)."""
    for sub in build_mod.GENERATED:
        shutil.copytree(course / "source", out / sub, dirs_exist_ok=True)


def test_changed_and_new_english_cells_are_reported_by_notebook_and_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(build_mod, "generate", _copy_as_generated)
    root, nb = _tiny_course(tmp_path)
    assert i18n.problems(root, LANG) == []
    nb.cells[2].source = "Train the head for two epochs."               # the English changed
    nb.cells.append(nbformat.v4.new_markdown_cell("New text.", id="md-3"))  # a new cell
    nbformat.write(nb, root / "source" / "a" / "N.ipynb")
    assert [str(p) for p in i18n.problems(root, LANG)] == [
        "hi: a/N.ipynb cell md-2: stale", "hi: a/N.ipynb cell md-3: missing"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert build_mod.build(root) == 0          # the edition builds, those cells in English
        assert build_mod.build(root, check=True) == 1
    assert "a/N.ipynb cell md-2: stale" in out.getvalue()
    assert "a/N.ipynb cell md-3: missing" in out.getvalue()
    hindi = nbformat.read(root / i18n.EDITIONS / LANG / "release" / "a" / "N.ipynb", as_version=4)
    assert [c.source for c in hindi.cells] == ["हिंदी md-1", "x = 1", nb.cells[2].source, "New text."]
    assert [c.id for c in hindi.cells] == [c.id for c in nb.cells]


def test_a_translation_of_no_cell_and_a_broken_catalog_are_reported(tmp_path):
    root, _ = _tiny_course(tmp_path)
    path = i18n.catalog_path(root, LANG, "a/N")
    cells = i18n.load_catalog(path)
    cells["gone"] = {"en_sha256": "0" * 64, LANG: "पुराना"}
    i18n.save_catalog(path, cells)
    assert [str(p) for p in i18n.problems(root, LANG)] == ["hi: a/N.ipynb cell gone: no such markdown cell"]
    path.write_text('{"cells": {"md-1": {"hi": "x"}}}')
    with pytest.raises(ValueError, match="N.json: not a translation catalog"):
        i18n.problems(root, LANG)


def test_put_stores_a_translation_of_the_cell_as_it_is_now(tmp_path):
    root, nb = _tiny_course(tmp_path)
    i18n.put(root, LANG, "a/N", "md-2", "हेड को ट्रेन करें।\n")
    entry = i18n.load_catalog(i18n.catalog_path(root, LANG, "a/N"))["md-2"]
    assert entry == {"en_sha256": i18n.source_hash(nb.cells[2].source), LANG: "हेड को ट्रेन करें।"}
    with pytest.raises(ValueError, match="has no markdown cell 'code-1'"):
        i18n.put(root, LANG, "a/N", "code-1", "x")


# ------------------------------------------------------------------ glossary and terms

def test_glossary_is_well_formed():
    lines = (CATALOGS / "glossary.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "hindi\tenglish\tmeaning"
    rows = [line.split("\t") for line in lines[1:]]
    assert 30 <= len(rows) <= 80 and all(len(r) == 3 and all(x.strip() for x in r) for r in rows)
    for column in (0, 1):
        names = [r[column] for r in rows]
        assert len(set(names)) == len(names), f"a term listed twice: {column}"
    glossary = i18n.Glossary.load(CATALOGS)
    for hindi, _ in glossary.terms:
        assert hindi not in glossary.variants, f"{hindi} is both a term and a variant"
        assert not set(hindi) & {"\u093c", "\u095b", "\u095e"}, f"{hindi}: the glossary writes no nukta"
    # the issue's own terms
    for term in ("प्री-ट्रेंड नेटवर्क", "ट्रांसफर लर्निंग", "फीचर एक्सट्रैक्टर", "फाइन-ट्यूनिंग",
                 "ट्रेनिंग", "एडवर्सेरियल अटैक", "वेरिएशन लॉस"):
        assert term in dict(glossary.terms)


def test_lint_catches_a_second_spelling_a_missing_term_and_lost_code():
    glossary = i18n.Glossary.load(CATALOGS)
    english = "**Fine-tuning** the pretrained network: `lr=1e-4`, 25,000 photos, $x_{i+1}$."
    good = "प्री-ट्रेंड नेटवर्क की **फाइन-ट्यूनिंग**: `lr=1e-4`, 25,000 फोटो, $x_{i+1}$।"
    assert i18n.lint(english, good, glossary) == []
    bad = "प्रीट्रेंड नेटवर्क की **फ़ाइन-ट्यूनिंग**: lr=1e-4, २५,००० फोटो।"
    found = "\n".join(i18n.lint(english, bad, glossary))
    for what in ("'प्रीट्रेंड' is a second spelling of 'प्री-ट्रेंड'",
                 "'फ़ाइन-ट्यूनिंग' is a second spelling of 'फाइन-ट्यूनिंग'",
                 "lost '`lr=1e-4`'", "lost '$x_{i+1}$'", "lost the number 25,000",
                 "'pretrained' is 'प्री-ट्रेंड' in the glossary"):
        assert what in found, found


@pytest.mark.parametrize("key", KEYS)
def test_translations_follow_the_glossary_and_keep_code_and_numbers(key):
    findings = [f for f in i18n.lint_all(ROOT, LANG) if f.startswith(f"{key}.ipynb ")]
    assert not findings, "\n".join(findings)


# ------------------------------------------------------------------ the generated edition

def _graded_view(nb):
    """What grading depends on: per cell its id, type, nbgrader metadata and code (a
    written-answer cell's checksum is of its text, which is translated)."""
    def meta(cell):
        data = dict(cell.metadata.get("nbgrader", {}))
        if cell.cell_type == "markdown":
            data.pop("checksum", None)
        return json.dumps(data, sort_keys=True)
    return [(c.id, c.cell_type, meta(c), c.source if c.cell_type == "code" else None)
            for c in nb.cells]


@pytest.mark.parametrize("kind", ["source", "release", "notebooks"])
@pytest.mark.parametrize("english", source_notebooks(), ids=lambda p: p.stem)
def test_hindi_notebooks_grade_like_the_english_ones(english, kind):
    rel = english.relative_to(ROOT / "source")
    en = nbformat.read(ROOT / kind / rel, as_version=4)
    hi = nbformat.read(EDITION / kind / rel, as_version=4)
    assert _graded_view(hi) == _graded_view(en)
    assert hi.metadata == en.metadata
    translated = [c for c, e in zip(hi.cells, en.cells) if c.cell_type == "markdown" and c.source != e.source]
    assert translated, f"{rel}: no markdown cell in Hindi"


def test_edition_config_loads_the_course_config_and_sets_its_own_course_id(tmp_path):
    """A short file: the course's configuration (loaded, not copied), then the edition's
    root, course id, gradebook and language; nbgrader reads it so, and so does a copy."""
    from traitlets.config import PyFileConfigLoader

    from tlcourse.profiles import course_setting, grading_profile

    text = (EDITION / "nbgrader_config.py").read_text()
    assert text == i18n.edition_config(LANG) and len(text.splitlines()) < 20
    assert 'load_subconfig("../../nbgrader_config.py")' in text
    main = PyFileConfigLoader("nbgrader_config.py", str(ROOT)).load_config()
    for folder in (EDITION, tmp_path):
        if folder == tmp_path:      # a copy elsewhere (a scratch course) loads it by its path
            (tmp_path / "nbgrader_config.py").write_text(i18n.portable_config(EDITION))
        cfg = PyFileConfigLoader("nbgrader_config.py", str(folder)).load_config()
        assert cfg.CourseDirectory.course_id == "tlcourse-hi"
        assert cfg.CourseDirectory.root == str(folder)
        assert cfg.CourseDirectory.db_url == f"sqlite:///{folder / 'gradebook.db'}"
        # the rest is the course's own: timeouts, preprocessors, sanitising
        assert cfg.Execute.extra_arguments == main.Execute.extra_arguments
        assert cfg.Autograde.autograde_preprocessors == main.Autograde.autograde_preprocessors
        assert cfg.HTMLExporter.filters == main.HTMLExporter.filters
        assert grading_profile(folder)[0] == grading_profile(ROOT)[0]
        assert course_setting(folder, "tlcourse_language") == LANG
    assert course_setting(ROOT, "tlcourse_language") is None


def test_edition_sources_and_landing_page_are_what_the_catalogs_make(tmp_path):
    i18n.write_edition_sources(ROOT, LANG, tmp_path)
    for rel in ("source", "START_HERE.ipynb", "nbgrader_config.py", ".gitignore"):
        assert build_mod.differences(tmp_path / rel, EDITION / rel) == [], \
            f"editions/hi/{rel} is out of date: run `tlcourse build`"
    landing = (EDITION / "START_HERE.ipynb").read_text(encoding="utf-8")
    for p in sorted((EDITION / "release").glob("*/*.ipynb")):
        assert f"](my-work/{p.relative_to(EDITION / 'release').as_posix()})" in landing


# ------------------------------------------------------------------ through nbgrader

def _hindi_twin(english_answers, hindi_release):
    """The Hindi student notebook with the same code as ``english_answers`` in every cell."""
    en = nbformat.read(english_answers, as_version=4)
    hi = nbformat.read(hindi_release, as_version=4)
    code = {c.id: c.source for c in en.cells if c.cell_type == "code"}
    for cell in hi.cells:
        if cell.cell_type == "code":
            cell.source = code[cell.id]
    return hi


@pytest.mark.grading
def test_hindi_pets_lab_round_trip_and_same_score_as_english(tmp_path):
    assignment = "pets_lab"
    stem = "OxfordPetsPyTorch"
    # half done: the solution with one task's answer back to the student's stub
    half = nbformat.read(ROOT / "notebooks" / assignment / f"{stem}.ipynb", as_version=4)
    stub = {c.id: c.source for c in nbformat.read(ROOT / "release" / assignment / f"{stem}.ipynb",
                                                  as_version=4).cells}
    answer = next(c for c in half.cells if c.metadata.get("nbgrader", {}).get("solution")
                  and c.cell_type == "code" and "top_k_accuracy" in c.source)
    answer.source = stub[answer.id]
    (tmp_path / "en").mkdir()
    (tmp_path / "hi").mkdir()
    nbformat.write(half, tmp_path / "en" / f"{stem}.ipynb")
    nbformat.write(_hindi_twin(tmp_path / "en" / f"{stem}.ipynb",
                               EDITION / "release" / assignment / f"{stem}.ipynb"),
                   tmp_path / "hi" / f"{stem}.ipynb")

    hindi = grading.make_course(EDITION, tmp_path / "course-hi", [assignment])
    grading.submit(hindi, "solution", assignment, [EDITION / "notebooks" / assignment / f"{stem}.ipynb"])
    grading.submit(hindi, "untouched", assignment, [EDITION / "release" / assignment / f"{stem}.ipynb"])
    grading.submit(hindi, "half", assignment, [tmp_path / "hi" / f"{stem}.ipynb"])
    english = grading.make_course(ROOT, tmp_path / "course-en", [assignment])
    grading.submit(english, "half", assignment, [tmp_path / "en" / f"{stem}.ipynb"])
    # the two courses side by side, each in its own nbgrader process and gradebook
    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(lambda course: run_nbgrader(
            ["autograde", assignment, "--force", f"--CourseDirectory.root={course}"],
            cwd=course, check=False), (hindi, english)))
    for proc in procs:
        assert proc.returncode == 0, proc.stderr[-3000:]

    def by_student(course):
        out = {}
        for s in grading.scores(course, assignment):
            if s.notebook == stem:          # the other framework's notebook was not handed in
                out.setdefault(s.student, {})[s.grade_id] = (s.score, s.max_score)
        return out

    hi_scores, en_scores = by_student(hindi), by_student(english)
    auto = {s.grade_id for s in grading.scores(hindi, assignment) if s.autograded and s.notebook == stem}
    assert auto
    assert all(hi_scores["solution"][g][0] == hi_scores["solution"][g][1] for g in auto)
    assert all(hi_scores["untouched"][g][0] == 0 for g in auto)
    # the same answers: the same score on every cell, in either language
    assert hi_scores["half"] == en_scores["half"]
    half_total = sum(hi_scores["half"][g][0] for g in auto)
    assert 0 < half_total < sum(hi_scores["half"][g][1] for g in auto)


def test_lab_opens_the_edition_asked_for_or_the_one_it_runs_in():
    from tlcourse.course import lab
    assert lab.edition_root("hi") == EDITION and (EDITION / lab.LANDING).is_file()
    assert lab.edition_root(None, cwd=EDITION / "my-work" / "pets_lab") == EDITION
    assert lab.edition_root(None, cwd=ROOT / "source") == ROOT
    with pytest.raises(ValueError, match="edition 'xx' does not exist; choose one of hi"):
        lab.edition_root("xx")
    makefile = (ROOT / "Makefile").read_text()
    assert "--edition $(EDITION)" in makefile and "make lab EDITION=hi" in makefile

"""The translated editions (Hindi): catalogs current and complete, glossary followed, code
and grading identical to the English course.

* the languages are the folders under i18n/: a made-up second language, one folder with a
  catalog, builds its own edition;
* every markdown cell of every English notebook (and of START_HERE) has an entry (or an
  identical English cell translated elsewhere) whose hash is the English cell's current
  one, whitespace aside: a failure names notebook and cell; `todo` shows a stale cell's
  English then and now beside its old translation;
* the glossary is well formed, every translation follows it (``i18n.lint``), and the
  edition's glossary page lists every term and is linked from its START_HERE;
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

from course import ROOT, code_tokens, source_notebooks
from tlcourse.course import build as build_mod
from tlcourse.course import comments
from tlcourse.course import grade as grading
from tlcourse.course import i18n
from tlcourse.course.build import run_nbgrader

LANGUAGES = i18n.languages(ROOT)         # the folders under i18n/
LANG = "hi"                               # the edition the Hindi-only tests below are about
EDITION = ROOT / i18n.EDITIONS / LANG
CATALOGS = ROOT / i18n.CATALOGS / LANG
KEYS = list(i18n.english_notebooks(ROOT))
SCRIPTS = {"hi": ("\u0900", "\u097f")}   # a catalog's text is in its language's script


# ------------------------------------------------------------------ catalogs

def test_the_languages_are_the_folders_under_i18n():
    assert LANG in LANGUAGES
    assert LANGUAGES == sorted(p.name for p in (ROOT / i18n.CATALOGS).iterdir() if p.is_dir())
    with pytest.raises(ValueError, match="edition 'xx' does not exist; choose one of hi"):
        i18n.check_language("xx", ROOT)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("key", KEYS)
def test_every_markdown_cell_has_a_current_translation(key, lang):
    problems = [p for p in i18n.problems(ROOT, lang) if p.notebook == key]
    assert not problems, ("translate these cells (`tlcourse i18n todo` prints "
                          "their English):\n" + "\n".join(map(str, problems)))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_files_are_in_the_one_format(lang):
    folder = ROOT / i18n.CATALOGS / lang
    # the notebooks' markdown catalogs (the code comments' catalog is tests/test_comments.py's)
    files = sorted(f for f in folder.rglob("*.json") if f.name != comments.CATALOG)
    assert {f.relative_to(folder).with_suffix("").as_posix() for f in files} == set(KEYS)
    low, high = SCRIPTS[lang]
    for path in files:
        text = path.read_text(encoding="utf-8")
        cells = i18n.load_catalog(path)
        assert text == i18n.catalog_text(cells), f"{path}: not UTF-8, indent 1, keys sorted"
        assert all(set(e) == {"en", "en_sha256", lang} for e in cells.values()), path
        assert all(any(low <= ch <= high for ch in e[lang]) for e in cells.values()), \
            f"{path}: an entry not in the language's script"


def test_no_catalog_repeats_a_translation_the_memory_gives():
    """An English cell identical to one translated earlier takes that translation: the
    TensorFlow catalogs hold only what differs from the PyTorch ones."""
    memory = {}
    for key, cells in i18n.catalogs(ROOT, LANG).items():
        for cell_id, entry in cells.items():
            assert memory.get(entry["en_sha256"]) != entry[LANG], \
                f"{key} {cell_id}: the same as the translation memory's; remove the entry"
            memory.setdefault(entry["en_sha256"], entry[LANG])


def _tiny_glossary(folder, term="एपॉक\tepoch\t\tट्रेनिंग डेटा पर एक पूरा चक्कर"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "glossary.tsv").write_text(f"{i18n.GLOSSARY_HEADER}\n{term}\n", encoding="utf-8")
    (folder / "variants.tsv").write_text("variant\tuse\n", encoding="utf-8")
    (folder / "glossary.md").write_text("# Glossary\n\n| term | English | formal | meaning |\n"
                                        "|---|---|---|---|\n{terms}\n", encoding="utf-8")


def _tiny_course(tmp_path, lang=LANG):
    """A course with one notebook (two markdown cells, one code cell) and, in ``lang``,
    its catalog and a one-term glossary."""
    root = tmp_path / "course"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\nThe `model` has 3 layers.", id="md-1"),
                nbformat.v4.new_code_cell("x = 1", id="code-1"),
                nbformat.v4.new_markdown_cell("Train the head.", id="md-2")]
    (root / "source" / "a").mkdir(parents=True)
    nbformat.write(nb, root / "source" / "a" / "N.ipynb")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    _add_language(root, nb, lang)
    return root, nb


def _add_language(root, nb, lang):
    """A language for the tiny course: its folder, glossary and a catalog for a/N."""
    _tiny_glossary(root / i18n.CATALOGS / lang)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            i18n.put(root, lang, "a/N", cell.id, f"हिंदी {lang} {cell.id}")


def _copy_as_generated(course, out, home=None):
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
    assert [c.source for c in hindi.cells] == ["हिंदी hi md-1", "x = 1", nb.cells[2].source, "New text."]
    assert [c.id for c in hindi.cells] == [c.id for c in nb.cells]


def test_a_translation_of_no_cell_and_a_broken_catalog_are_reported(tmp_path):
    root, _ = _tiny_course(tmp_path)
    path = i18n.catalog_path(root, LANG, "a/N")
    cells = i18n.load_catalog(path)
    cells["gone"] = {"en": "Old.", "en_sha256": i18n.source_hash("Old."), LANG: "पुराना"}
    i18n.save_catalog(path, cells)
    assert [str(p) for p in i18n.problems(root, LANG)] == ["hi: a/N.ipynb cell gone: no such markdown cell"]
    path.write_text('{"cells": {"md-1": {"hi": "x"}}}')
    with pytest.raises(ValueError, match="N.json: not a translation catalog"):
        i18n.problems(root, LANG)
    cells["gone"]["en"] = "Edited by hand."           # the hash no longer that of its English
    i18n.save_catalog(path, cells)
    with pytest.raises(ValueError, match="en_sha256 is not the hash of en in gone"):
        i18n.problems(root, LANG)


def test_put_stores_a_translation_of_the_cell_as_it_is_now(tmp_path):
    root, nb = _tiny_course(tmp_path)
    i18n.put(root, LANG, "a/N", "md-2", "हेड को ट्रेन करें।\n")
    entry = i18n.load_catalog(i18n.catalog_path(root, LANG, "a/N"))["md-2"]
    assert entry == {"en": nb.cells[2].source, "en_sha256": i18n.source_hash(nb.cells[2].source),
                     LANG: "हेड को ट्रेन करें।"}
    with pytest.raises(ValueError, match="has no markdown cell 'code-1'"):
        i18n.put(root, LANG, "a/N", "code-1", "x")


def test_a_whitespace_only_change_keeps_the_translation_current(tmp_path):
    assert i18n.source_hash("The `model`  has\n3 layers. ") == i18n.source_hash("The `model` has 3 layers.")
    assert i18n.source_hash("The model has 3 layers.") != i18n.source_hash("The model has 4 layers.")
    root, nb = _tiny_course(tmp_path)
    nb.cells[0].source = "# Title\n\nThe `model`\n   has 3 layers.\n"      # rewrapped, re-indented
    nbformat.write(nb, root / "source" / "a" / "N.ipynb")
    assert i18n.problems(root, LANG) == []


def test_an_english_cell_translated_elsewhere_reuses_that_translation(tmp_path):
    root, nb = _tiny_course(tmp_path)
    twin = nbformat.v4.new_notebook()
    twin.cells = [nbformat.v4.new_markdown_cell("Train  the\nhead.", id="other-id"),   # md-2, rewrapped
                  nbformat.v4.new_markdown_cell("Only here.", id="own")]
    nbformat.write(twin, root / "source" / "a" / "M.ipynb")
    assert [str(p) for p in i18n.problems(root, LANG)] == ["hi: a/M.ipynb cell own: missing"]
    cells = i18n.catalogs(root, LANG)
    made, _ = i18n.translated(twin, cells["a/M"], LANG, "a/M", i18n.translation_memory(cells, LANG))
    assert [c.source for c in made.cells] == ["हिंदी hi md-2", "Only here."]
    i18n.put(root, LANG, "a/M", "other-id", "अपना अनुवाद")      # its own entry comes first
    cells = i18n.catalogs(root, LANG)
    made, _ = i18n.translated(twin, cells["a/M"], LANG, "a/M", i18n.translation_memory(cells, LANG))
    assert made.cells[0].source == "अपना अनुवाद"


def test_todo_shows_a_stale_cells_english_then_and_now_and_its_old_translation(tmp_path, capsys):
    root, nb = _tiny_course(tmp_path)
    assert i18n.print_todo(root, LANG) == 0
    nb.cells[2].source = "Train the head for two epochs."
    nb.cells.append(nbformat.v4.new_markdown_cell("New text.", id="md-3"))
    nbformat.write(nb, root / "source" / "a" / "N.ipynb")
    assert i18n.print_todo(root, LANG) == 1
    assert capsys.readouterr().out.splitlines() == [
        "0 cell(s) to translate or remove in hi.",
        "== hi: a/N.ipynb cell md-2: stale",
        "-- English then (translated):", "Train the head.",
        "-- English now:", "Train the head for two epochs.",
        "-- hi (of the English then):", "हिंदी hi md-2",
        "== hi: a/N.ipynb cell md-3: missing",
        "New text.",
        "2 cell(s) to translate or remove in hi."]


def test_a_second_language_is_a_folder_with_its_catalogs(tmp_path, monkeypatch):
    """Adding a language: i18n/<lang>/ with a catalog per notebook and a glossary; the build
    makes its edition, a course of its own."""
    monkeypatch.setattr(build_mod, "generate", _copy_as_generated)
    root, nb = _tiny_course(tmp_path)
    _add_language(root, nb, "xx")
    assert i18n.languages(root) == ["hi", "xx"]
    assert i18n.check_language("xx", root) == "xx"
    assert i18n.problems(root, "xx") == []
    with contextlib.redirect_stdout(io.StringIO()):
        assert build_mod.build(root) == 0
        assert build_mod.build(root, check=True) == 0
    edition = root / i18n.EDITIONS / "xx"
    made = nbformat.read(edition / "release" / "a" / "N.ipynb", as_version=4)
    assert [c.source for c in made.cells] == ["हिंदी xx md-1", "x = 1", "हिंदी xx md-2"]
    assert 'course_id = "tlcourse-xx"' in (edition / "nbgrader_config.py").read_text()
    assert "| **एपॉक** | epoch | — |" in (edition / i18n.GLOSSARY_PAGE).read_text(encoding="utf-8")


def test_build_check_finds_a_glossary_page_out_of_date(tmp_path, monkeypatch):
    monkeypatch.setattr(build_mod, "generate", _copy_as_generated)
    root, _ = _tiny_course(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert build_mod.build(root) == 0
        _tiny_glossary(root / i18n.CATALOGS / LANG, term="बेस\tbase\tआधार\tप्री-ट्रेंड नेटवर्क")
        assert build_mod.build(root, check=True) == 1
    assert f"editions/hi/{i18n.GLOSSARY_PAGE}" in out.getvalue()


# ------------------------------------------------------------------ glossary and terms

def test_glossary_is_well_formed():
    lines = (CATALOGS / "glossary.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "hindi\tenglish\tformal\tmeaning"
    rows = [line.split("\t") for line in lines[1:]]
    # the formal term may be empty (none in use: नोटबुक, एपॉक)
    assert 30 <= len(rows) <= 100 and all(len(r) == 4 and all(r[i].strip() for i in (0, 1, 3))
                                          for r in rows)
    for column in (0, 1):
        names = [r[column] for r in rows]
        assert len(set(names)) == len(names), f"a term listed twice: {column}"
    glossary = i18n.Glossary.load(CATALOGS)
    for hindi, _ in glossary.terms:
        assert hindi not in glossary.variants, f"{hindi} is both a term and a variant"
        assert not set(hindi) & {"\u093c", "\u095b", "\u095e"}, f"{hindi}: the glossary writes no nukta"
    # the issue's own terms
    for term in ("प्री-ट्रेंड नेटवर्क", "ट्रांसफर लर्निंग", "फीचर एक्सट्रैक्टर", "फाइन-ट्यूनिंग",
                 "ट्रेनिंग", "एडवर्सेरियल अटैक", "वेरिएशन लॉस", "इमेज", "रैंडम", "रिजॉल्यूशन",
                 "सॉफ्टमैक्स", "सैलिएंसी", "ग्रो", "स्टैंड-इन", "पैरामीटराइजेशन"):
        assert term in dict(glossary.terms)
    # the AI4Bharat spellings and the second spellings the catalogs once had
    for variant, use in (("प्रशिक्षित", "प्री-ट्रेंड"), ("छवि", "इमेज"), ("वर्ग", "क्लास"),
                         ("कॉन्वोल्यूशनल", "कन्वोल्यूशनल"), ("यादृच्छिक", "रैंडम"),
                         ("बेतरतीब", "रैंडम"), ("रेजोल्यूशन", "रिजॉल्यूशन"), ("उगा", "ग्रो")):
        assert glossary.variants[variant] == use


def test_glossary_page_lists_every_term_and_is_linked_from_start_here():
    page = nbformat.read(EDITION / i18n.GLOSSARY_PAGE, as_version=4)
    assert nbformat.writes(page) == nbformat.writes(i18n.glossary_page(ROOT, LANG)), \
        f"editions/hi/{i18n.GLOSSARY_PAGE} is out of date: run `tlcourse build`"
    assert {c.cell_type for c in page.cells} == {"markdown"}
    assert page.metadata.kernelspec.name == "tlcourse"         # opens without asking for a kernel
    text = "\n".join(c.source for c in page.cells)
    for line in (CATALOGS / "glossary.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        hindi, english, formal, _ = line.split("\t")
        assert f"| **{hindi}** | {english} | {formal or '—'} |" in text, hindi
    assert "JupyterLab" in text and "Matplotlib" in text       # what stays English
    landing = (EDITION / "START_HERE.ipynb").read_text(encoding="utf-8")
    assert f"](my-work/{i18n.GLOSSARY_PAGE})" in landing


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
    """What grading depends on: per cell its id, type, nbgrader metadata and the code Python
    runs (its tokens without comments: comments are translated; a locked cell's checksum is
    of its text, translated comments included, and each edition's gradebook has its own)."""
    def meta(cell):
        data = dict(cell.metadata.get("nbgrader", {}))
        data.pop("checksum", None)
        return json.dumps(data, sort_keys=True)
    return [(c.id, c.cell_type, meta(c), code_tokens(c.source) if c.cell_type == "code" else None)
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
    for rel in ("source", "START_HERE.ipynb", i18n.GLOSSARY_PAGE, "nbgrader_config.py", ".gitignore"):
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

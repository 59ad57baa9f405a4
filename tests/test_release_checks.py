"""The release checks (tlcourse.course.release_checks): for each rule a small course that
breaks exactly that rule gives exactly that one finding, and its fixed twin gives none;
then the real course, English and every edition, must give none."""
import contextlib
import io
import re
import shutil
from fractions import Fraction
from pathlib import Path

import nbformat
import pytest

from tlcourse.course import build as build_mod
from tlcourse.course import release_checks as rc

ROOT = Path(__file__).resolve().parents[1]
SEED = "test-seed-1"
PLACEHOLDER = rc.PLACEHOLDER


# ------------------------------------------------------------------ a tiny course
def nbg(grade_id, solution=False, grade=False, locked=False, points=None):
    return {"nbgrader": {"grade": grade, "grade_id": grade_id, "locked": locked,
                         "points": points, "schema_version": 3, "solution": solution,
                         "task": False}}


def md(cell_id, text, **meta):
    return nbformat.v4.new_markdown_cell(text, id=cell_id, metadata=nbg(**meta) if meta else {})


def code(cell_id, text, **meta):
    return nbformat.v4.new_code_cell(text, id=cell_id, metadata=nbg(**meta) if meta else {})


def student_version(cell):
    """What nbgrader's generate_assignment makes of a cell (enough for these checks)."""
    cell = nbformat.from_dict(dict(cell))
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("solution"):
        if cell.cell_type == "markdown" and rc.BEGIN_SOLUTION not in cell.source:
            cell.source = PLACEHOLDER
        else:
            cell.source = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION",
                                 "# YOUR CODE HERE\nraise NotImplementedError()"
                                 if cell.cell_type == "code" else PLACEHOLDER,
                                 cell.source, flags=re.S)
    cell.source = re.sub(r"\n?### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", cell.source,
                         flags=re.S)
    return cell


def make_course(root: Path, cells, files=None) -> Path:
    """source/a/N.ipynb with ``cells``, release/a/N.ipynb made from it, the seed, ``files``."""
    nb = nbformat.v4.new_notebook(cells=cells)
    for sub, notebook in (("source", nb),
                          ("release", nbformat.v4.new_notebook(
                              cells=[student_version(c) for c in cells]))):
        (root / sub / "a").mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, root / sub / "a" / "N.ipynb")
    (root / "source" / "quiz_seed.txt").write_text(SEED + "\n")
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def findings(root):
    return [(f.rule, f.cell) for f in rc.check_course(root)]


INTRO = md("intro", "# A notebook\n\nSome text about transfer learning.")


# ------------------------------------------------------------------ rule 1: answer-prompt
PROMPT = "**Written answer.** In two or three sentences: why does the noise fool the network?"


def test_a_prompt_inside_a_written_answer_cell_is_found(tmp_path):
    cells = [INTRO, md("written", f"{PROMPT}\n\n{PLACEHOLDER}", grade_id="why", solution=True,
                       grade=True, points=1)]
    assert findings(make_course(tmp_path, cells)) == [("answer-prompt", "written")]
    (finding,) = rc.check_course(tmp_path)
    assert finding.path == "source/a/N.ipynb"
    assert str(finding).startswith("source/a/N.ipynb cell written [answer-prompt]: ")


def test_a_written_answer_cell_with_its_prompt_before_it_passes(tmp_path):
    cells = [INTRO, md("written-md", PROMPT),
             md("written", PLACEHOLDER, grade_id="why", solution=True, grade=True, points=1)]
    assert findings(make_course(tmp_path, cells)) == []


def test_a_model_answer_in_the_cell_is_not_a_prompt(tmp_path):
    cells = [INTRO, md("written-md", PROMPT),
             md("written", "### BEGIN SOLUTION\nThe noise pushes features.\n### END SOLUTION",
                grade_id="why", solution=True, grade=True, points=1),
             md("written-2", "The whole cell is the model answer.", grade_id="why2",
                solution=True, grade=True, points=1)]
    # written-2's student version has no prompt before it: found in release/
    assert findings(make_course(tmp_path, cells)) == [("answer-prompt", "written-2")]


def test_a_student_answer_cell_without_a_prompt_before_it_is_found(tmp_path):
    cells = [INTRO, code("setup", "x = 1"),
             md("written", PLACEHOLDER, grade_id="why", solution=True, grade=True, points=1)]
    root = make_course(tmp_path, cells)
    (finding,) = rc.check_course(root)
    assert (finding.rule, finding.cell, finding.path) == ("answer-prompt", "written",
                                                          "release/a/N.ipynb")


# ------------------------------------------------------------------ rule 2: answer-visible
def number_question(expected: str, visible: str = "Replace `None` with your answer."):
    return [INTRO, md("quiz-md", f"## Knowledge check\n\n{visible}"),
            md("quiz-1-md", "**Q1.** How many parameters does the new head have?"),
            code("quiz-1-answer", "q1 = None\n### BEGIN SOLUTION\nq1 = 1\n### END SOLUTION",
                 grade_id="answer_1", solution=True),
            code("quiz-1-test", "quiz.answered(q1, 'q1')\n### BEGIN HIDDEN TESTS\n"
                                f"assert quiz.same_number(q1, {expected}, rel=0)\n"
                                "### END HIDDEN TESTS",
                 grade_id="quiz_t_1", grade=True, locked=True, points=1)]


def test_an_answer_in_the_format_instructions_is_found(tmp_path):
    cells = number_question("2562", "Numbers count in any form (`2562` and `\"2,562\"`).")
    assert findings(make_course(tmp_path, cells)) == [("answer-visible", "quiz-md")]
    assert "answer 2562 (quiz_t_1)" in str(rc.check_course(tmp_path)[0])


def test_format_instructions_with_another_number_pass(tmp_path):
    cells = number_question("2562", "Numbers count in any form (`1234` and `\"1,234\"`).")
    assert findings(make_course(tmp_path, cells)) == []


def test_an_answer_in_a_package_string_is_found(tmp_path):
    cells = number_question("1_281_000")
    package = {"tlcourse/q.py": '"""Forms.\n\n    same_number("1,281,000", 1281000)\n"""\n'}
    root = make_course(tmp_path, cells, package)
    assert findings(root) == [("answer-visible", "line 3")]
    assert rc.check_course(root)[0].path == "tlcourse/q.py"
    (root / "tlcourse" / "q.py").write_text('"""Forms.\n\n    same_number("1,234", 1234)\n"""\n'
                                            "X = 1281000   # code, not text\n")
    assert findings(root) == []


@pytest.mark.parametrize("expected, text, found", [
    ("2562", "2562", True), ("2562", "2,562", True), ("2562", "2_562", True),
    ("2562", "2 562", True), ("2562", "25620", False), ("2562", "12562", False),
    ("2562", "2562.5", False), ("2562", "1,2562", False), ("2562", "२५६२", True),
    ("1_281_000", "1,281,000", True), ("1_281_000", "1,281000", False),
    ("Fraction(5, 6)", "5/6", True), ("Fraction(5, 6)", "0.833", True),
    ("Fraction(5, 6)", "0.83", True), ("Fraction(5, 6)", "15/6", False),
    ("Fraction(5, 6)", "10.83", False), ("Fraction(5, 6)", "\\frac{5}{6}", True),
    ('"51/60"', "51/60", True), ('"51/60"', "17/20", True), ('"51/60"', "0.850", True),
    ("0.5", "0.5", False), ("0.5", "1/2", True), ("3", "3", False),
])
def test_search_forms(expected, text, found):
    import ast
    value, written = rc.literal_answer(ast.parse(expected, mode="eval").body)
    forms = rc.search_forms(rc.Answer("quiz_x", value, written))
    assert bool(rc._hits(f"see {text}.", forms)) == found


def test_answers_are_read_as_literals_only():
    import ast
    read = lambda s: rc.literal_answer(ast.parse(s, mode="eval").body)
    assert read("1_281_000") == (1281000, None)
    assert read('"51/60"') == (Fraction(17, 20), "51/60")
    assert read("Fraction(5, 6)") == (Fraction(5, 6), "5/6")
    assert read("0.85") == (Fraction(17, 20), None)
    assert read("open('x').read()") is None and read("n_cells * 2") is None


# ------------------------------------------------------------------ rule 3: multiple-choice
OPTIONS = ["the right one", "wrong one", "another wrong one", "a third wrong one"]


def choice_question(where_right=None, options_cell="locked", letter_from="literal"):
    """A multiple-choice question; the correct option at the seeded position unless told."""
    seeded = rc.seeded_position(SEED, "quiz_t_2", len(OPTIONS))
    at = seeded if where_right is None else where_right
    options = [o for o in OPTIONS if o != "the right one"]
    options.insert(at, "the right one")
    assign = f"Q2_OPTIONS = {options!r}\nquiz.ask('quiz_t_2', Q2_OPTIONS)\n"
    expected = (f'"{"abcd"[at]}"' if letter_from == "literal"
                else "quiz.letter('quiz_t_2', Q2_OPTIONS, 'the right one')")
    answer = "q2 = None\n### BEGIN SOLUTION\nq2 = 'a'\n### END SOLUTION"
    cells = [INTRO, md("quiz-2-md", "**Q2.** Which one?")]
    if options_cell == "locked":
        cells += [code("quiz-2-options", assign, grade_id="options_t_2", locked=True),
                  code("quiz-2-answer", answer, grade_id="answer_t_2", solution=True)]
    else:
        cells += [code("quiz-2-answer", assign + answer, grade_id="answer_t_2", solution=True)]
    cells.append(code("quiz-2-test", "quiz.answered(q2, 'q2')\n### BEGIN HIDDEN TESTS\n"
                                     f"assert quiz.same_choice(q2, {expected})\n"
                                     "### END HIDDEN TESTS",
                      grade_id="quiz_t_2", grade=True, locked=True, points=1))
    return cells


def test_multiple_choice_done_right_passes(tmp_path):
    assert findings(make_course(tmp_path, choice_question())) == []


def test_options_in_the_answer_cell_are_found(tmp_path):
    cells = choice_question(options_cell="answer")
    assert findings(make_course(tmp_path, cells)) == [("multiple-choice", "quiz-2-answer")]


def test_a_hidden_test_that_reads_the_options_is_found(tmp_path):
    cells = choice_question(letter_from="options")
    assert findings(make_course(tmp_path, cells)) == [("multiple-choice", "quiz-2-test")]
    assert "reads Q2_OPTIONS" in rc.check_course(tmp_path)[0].message


def test_a_correct_option_off_its_seeded_place_is_found(tmp_path):
    seeded = rc.seeded_position(SEED, "quiz_t_2", len(OPTIONS))
    cells = choice_question(where_right=(seeded + 1) % len(OPTIONS))
    assert findings(make_course(tmp_path, cells)) == [("multiple-choice", "quiz-2-options")]
    message = rc.check_course(tmp_path)[0].message
    assert (f"the correct option must be option {'abcd'[seeded]} (seeded by "
            f"source/quiz_seed.txt)") in message


def test_the_seeded_position_is_the_documented_formula():
    import random
    assert rc.seeded_position("s", "quiz_q", 4) == random.Random("s:quiz_q").randrange(4)


# ------------------------------------------------------------------ rule 4: recorded-figures
CLAIM = md("claim", "These are targets until measured: the numbers measured on a GPU runner "
                    "are recorded in `results/`. Run the check yourself.")


def test_a_claim_of_gpu_figures_where_there_are_none_is_found(tmp_path):
    files = {"results/RESULTS.md": "- CPU: 2 cores; GPU: none\n\naccuracy 0.97\n",
             "results/gpu_check.sh": "nvidia-smi  # GPU 1\n"}
    assert findings(make_course(tmp_path, [INTRO, CLAIM], files)) == [("recorded-figures", "claim")]


def test_a_saved_report_of_these_checks_is_not_a_gpu_figure(tmp_path):
    files = {"results/RESULTS.md": "- CPU: 2 cores; GPU: none\n\naccuracy 0.97\n",
             "results/release_checks_before.txt":
                 "source/a/N.ipynb cell claim [recorded-figures]: says figures measured on GPU "
                 "are 'recorded in `results/`', but results/ holds no GPU figures\n"}
    assert findings(make_course(tmp_path, [INTRO, CLAIM], files)) == [("recorded-figures", "claim")]


def test_a_claim_of_a_missing_path_is_found(tmp_path):
    assert findings(make_course(tmp_path, [INTRO, CLAIM])) == [("recorded-figures", "claim")]


def test_a_claim_the_files_bear_out_passes(tmp_path):
    files = {"results/RESULTS.md": "- GPU: NVIDIA A100 40GB\n\naccuracy 0.97\n"}
    assert findings(make_course(tmp_path, [INTRO, CLAIM], files)) == []


# ------------------------------------------------------------------ rule 5: profile-numbers
def test_the_smoke_stand_in_figures_are_derived_from_the_generator():
    facts = rc.profile_facts()
    # Cats vs Dogs stand-in: 120 a class written, 118 readable, 83 / 17 / 18 a class
    assert {120, 118, 83, 17, 18, 166, 34, 36}.issubset(facts["smoke"]["images"])
    assert {8, 37 * 8 - 3}.issubset(facts["smoke"]["images"])       # Pets: 8 a breed to train
    assert 168 not in facts["smoke"]["images"]
    assert {400, 800}.issubset(facts["laptop"]["images"]) and 25_000 in facts["full"]["images"]
    assert facts["smoke"]["px"] == {160, 96} and 224 in facts["full"]["px"]


def test_a_wrong_stand_in_count_is_found(tmp_path):
    text = ("In `smoke` the numbers above come from a couple of epochs on 168 generated "
            "training pictures and say nothing about real cats and dogs.")
    cells = [INTRO, md("numbers", text)]
    assert findings(make_course(tmp_path, cells)) == [("profile-numbers", "numbers")]
    message = rc.check_course(tmp_path)[0].message
    assert "168" in message and "`smoke`" in message and "166" in message


def test_the_right_counts_pass(tmp_path):
    text = ("In `smoke` the numbers above come from a couple of epochs on 166 generated "
            "training pictures (83 per class). In `laptop` (MobileNetV2 at 160 px, 800 "
            "training photos, 2 + 1 epochs) no target is set yet; the small CNN "
            "`SCRATCH_EPOCHS` = 10 epochs. A table:\n\n"
            "| `full` | all 25,000 real photos | 224 | 5 / 3 |\n")
    assert findings(make_course(tmp_path, [INTRO, md("numbers", text)])) == []


def test_sentences_that_name_no_profile_are_not_checked(tmp_path):
    text = "The Oxford-IIIT Pet dataset has 7,349 photos; we show 168 pictures here."
    assert findings(make_course(tmp_path, [INTRO, md("numbers", text)])) == []


# ------------------------------------------------------------------ the build refuses
def _copy_as_generated(course, out, home=None):
    """Stands in for nbgrader's generate steps (tests/test_structure.py runs the real ones)."""
    for sub in build_mod.GENERATED:
        shutil.copytree(course / "source", out / sub, dirs_exist_ok=True)


def test_build_and_check_refuse_a_release_with_findings(tmp_path, monkeypatch):
    monkeypatch.setattr(build_mod, "generate", _copy_as_generated)
    cells = [INTRO, md("written", f"{PROMPT}\n\n{PLACEHOLDER}", grade_id="why", solution=True,
                       grade=True, points=1)]
    root = make_course(tmp_path, cells)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for mode in (False, True):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert build_mod.build(root, check=mode) == 1
        assert "source/a/N.ipynb cell written [answer-prompt]: " in out.getvalue()
    # the build still wrote release/ from source/ (here: a copy), so the fix is made in source/
    assert (root / "notebooks" / "a" / "N.ipynb").is_file()
    nb = nbformat.read(root / "source" / "a" / "N.ipynb", as_version=4)
    nb.cells[1:] = [md("written-md", PROMPT),
                    md("written", PLACEHOLDER, grade_id="why", solution=True, grade=True, points=1)]
    nbformat.write(nb, root / "source" / "a" / "N.ipynb")
    with contextlib.redirect_stdout(io.StringIO()):
        assert build_mod.build(root) == 0


# ------------------------------------------------------------------ the real course
def test_the_course_passes_the_release_checks():
    """English and every edition, as committed.  Fails until the course's fixes land."""
    found = rc.check_course(ROOT)
    assert not found, f"{len(found)} finding(s):\n" + "\n".join(map(str, found))

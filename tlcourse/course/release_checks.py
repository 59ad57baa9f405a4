"""Release checks: what a student sees must not give away an answer, lose a prompt or
quote a figure the course does not have.  ``tlcourse build`` and ``tlcourse build --check``
run ``check_course`` over every notebook of every edition (English and ``editions/<lang>/``)
and refuse the release on any finding, one line each: notebook (or file), cell id (or
line), rule, message.

The rules, one function each:

``answer-prompt`` (``check_answer_prompts``)
    A markdown cell with nbgrader ``solution: true`` holds only the answer area: the
    placeholder ``YOUR ANSWER HERE`` or the model answer.  nbgrader replaces the whole cell
    with the placeholder in the student version, so a prompt written inside it is lost; the
    prompt belongs in a non-solution markdown cell just before it.  Found: prose beside the
    placeholder (or outside the solution markers) in source/, and a student-version answer
    cell with no markdown prompt before it.
``answer-visible`` (``check_visible_answers``)
    No knowledge-check answer in student-visible text.  The answers are read (``ast``,
    literals only) from the hidden tests of source/'s ``quiz_*`` cells:
    ``quiz.same_number(var, EXPR, ...)`` with EXPR an int or float literal, a string such as
    ``"5/7"`` or ``Fraction(5, 7)``.  Student-visible text is every cell of every edition's
    release/ notebooks (any assignment: a student has them all), and every string constant
    (docstrings, messages, f-string parts) of the package ``tlcourse/**/*.py``.  Searched:
    integers of three digits or more, plain or with thousands separators (``1234``, ``1,234``,
    ``1_234``, ``1 234``; bounded, so 12340 is not 1234); non-integer values as ``a/b``
    (reduced and as written) and as decimals to 2 and 3 places.  Not searched, because they
    are everywhere in the text: integers of one or two digits, multiple-choice letters, and the
    decimals of a value whose 3-place decimal has fewer than 2 significant digits (0.5,
    0.2 or 0.004; their ``a/b`` form is still searched).
``multiple-choice`` (``check_multiple_choice``)
    A multiple-choice question is a ``quiz_*`` test cell whose hidden test calls
    ``quiz.same_choice`` (or ``quiz.letter``).  Its options are a list of string literals
    assigned in a locked nbgrader cell (grade id ``options_...``, ``solution: false``,
    ``grade: false``, ``locked: true``) that calls ``quiz.ask("<question id>", OPTIONS)``;
    the hidden test compares with a literal letter and reads neither the options variable
    nor any name a student-editable (solution) cell assigns; and the correct option sits at
    ``random.Random(f"{seed}:{question_id}").randrange(len(options))``, the seed being
    ``source/quiz_seed.txt`` of the main course (editions use it too).
``recorded-figures`` (``check_recorded_figures``)
    A markdown sentence saying figures are "recorded / measured / saved / listed / stored
    in X" (X in backticks or a path) names a path that exists (from the repository root or
    the course root) and holds figures: a file, not a script, with a number in it, or a
    folder with such a file.  What the sentence says about where they were measured (GPU, a
    profile: smoke, laptop, full) must be in those files too, and not as "GPU: none",
    "no GPU" or ``"gpus": []``.
``profile-numbers`` (``check_profile_numbers``)
    A markdown sentence that names a profile (`smoke`, `laptop`, `full` in backticks, or
    "smoke profile") or the stand-ins ("stand-in", "generated", "synthetic") and quotes
    ``<number> <counted noun>`` (pictures / images / photos / per class, epochs, px, steps)
    quotes a value the named profiles have (``profile_facts``); a number right after ``=``
    is the sentence's own definition and is not checked.

Framework-neutral: it reads notebooks as JSON and Python as ``ast``; it imports no framework.

    python -m tlcourse.course.release_checks [COURSE_ROOT]   the findings, one a line
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import random
import re
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import nbformat

from tlcourse.course import i18n

PLACEHOLDER = "YOUR ANSWER HERE"          # nbgrader's ClearSolutions.text_stub
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
QUIZ_PREFIX = "quiz_"                     # tlcourse.quiz.PREFIX
OPTIONS_PREFIX = "options_"
LETTERS = "abcdefgh"                      # tlcourse.quiz.LETTERS
SEED_FILE = "source/quiz_seed.txt"
PROFILE_NAMES = ("smoke", "laptop", "full")

RULES = ("answer-prompt", "answer-visible", "multiple-choice", "recorded-figures",
         "profile-numbers")


@dataclasses.dataclass(frozen=True, order=True)
class Finding:
    path: str            # relative to the course root checked
    cell: str            # the notebook cell's id; for a .py file, "line N"
    rule: str            # one of RULES
    message: str

    def __str__(self) -> str:
        where = self.cell if self.cell.startswith("line ") else f"cell {self.cell}"
        return f"{self.path} {where} [{self.rule}]: {self.message}"


@dataclasses.dataclass(frozen=True)
class Edition:
    """One edition's notebooks: where to read them and how to name them."""
    name: str            # "en" or the language
    course: Path         # its course root as it is on disk (paths a claim names)
    source: Path         # its source/ (generated for an edition)
    release: Path        # its release/
    prefix: str          # "" or "editions/<lang>/": how findings name its files


def editions(root: Path, generated: Path | None = None) -> list[Edition]:
    """The English course and every edition; generated folders read from ``generated``
    (the build's fresh output, laid out like the course) when given."""
    gen = generated or root
    found = [Edition("en", root, root / "source", gen / "release", "")]
    for lang in i18n.languages(root):
        rel = f"{i18n.EDITIONS}/{lang}"
        found.append(Edition(lang, root / rel, gen / rel / "source", gen / rel / "release",
                             rel + "/"))
    return found


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*/*.ipynb")
                  if not p.parent.name.startswith((".", "_"))) if folder.is_dir() else []


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _display(edition: Edition, sub: str, path: Path, top: Path) -> str:
    return f"{edition.prefix}{sub}/{path.relative_to(top).as_posix()}"


# ---------------------------------------------------------------------------------------
# rule 1: a markdown answer cell holds the answer only; its prompt comes before it
# ---------------------------------------------------------------------------------------
_SOLUTION_REGION = re.compile(re.escape(BEGIN_SOLUTION) + r".*?" + re.escape(END_SOLUTION),
                              re.DOTALL)
_PROSE = re.compile(r"[^\W\d_]")          # a letter, in any script


def _prose_beside_answer(text: str) -> str | None:
    """The text of a source answer cell beside its answer area, when it has prose."""
    if PLACEHOLDER not in text and BEGIN_SOLUTION not in text:
        return None                       # the whole cell is the model answer
    rest = _SOLUTION_REGION.sub(" ", text).replace(PLACEHOLDER, " ").strip()
    return rest if _PROSE.search(rest) else None


def _is_prompt(cell) -> bool:
    return (cell.cell_type == "markdown" and not _nbgrader(cell).get("solution")
            and bool(_PROSE.search(cell.source)))


def check_answer_prompts(edition: Edition) -> list[Finding]:
    findings, in_source = [], set()
    for path in _notebooks(edition.source):
        shown = _display(edition, "source", path, edition.source)
        for cell in _read(path).cells:
            nbg = _nbgrader(cell)
            if cell.cell_type != "markdown" or not nbg.get("solution"):
                continue
            prose = _prose_beside_answer(cell.source)
            if prose:
                in_source.add((path.relative_to(edition.source), cell.id))
                first = " ".join(prose.split())[:60]
                findings.append(Finding(shown, cell.id, "answer-prompt", (
                    f"the written-answer cell {nbg.get('grade_id')} holds a prompt "
                    f"({first!r}); the student version replaces the whole cell with "
                    f"{PLACEHOLDER}, so put the prompt in a markdown cell of its own just "
                    f"before it")))
    for path in _notebooks(edition.release):
        rel = path.relative_to(edition.release)
        cells = _read(path).cells
        for i, cell in enumerate(cells):
            nbg = _nbgrader(cell)
            if (cell.cell_type != "markdown" or not nbg.get("solution")
                    or (rel, cell.id) in in_source or cell.source.strip() != PLACEHOLDER):
                continue
            if i == 0 or not _is_prompt(cells[i - 1]):
                findings.append(Finding(_display(edition, "release", path, edition.release),
                                        cell.id, "answer-prompt", (
                    f"the written-answer cell {nbg.get('grade_id')} shows only "
                    f"{PLACEHOLDER} and no markdown prompt comes before it")))
    return findings


# ---------------------------------------------------------------------------------------
# knowledge checks: hidden tests and their answers
# ---------------------------------------------------------------------------------------
def _hidden_tests(source: str) -> ast.Module | None:
    """The hidden-test lines of a test cell, parsed (None: none, or not Python)."""
    lines = source.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == BEGIN_HIDDEN]
    ends = [i for i, line in enumerate(lines) if line.strip() == END_HIDDEN]
    if not starts or not ends or ends[0] < starts[0]:
        return None
    try:
        return ast.parse(textwrap.dedent("\n".join(lines[starts[0] + 1:ends[0]])))
    except SyntaxError:
        return None


def _call_name(node) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return None


def _number_text(text: str) -> Fraction | None:
    """A string answer as quiz.as_number reads it: "0.5", "5/7", "50%", "1,234"."""
    text = text.strip().replace(",", "").replace("_", "")
    percent = text.endswith("%")
    parts = [p.strip() for p in text.rstrip("%").split("/")]
    try:
        value = Fraction(parts[0]) / (Fraction(parts[1]) if len(parts) == 2 else 1)
    except (ValueError, ZeroDivisionError, IndexError):
        return None
    return value / 100 if percent else value


def literal_answer(node) -> tuple[Fraction, str | None] | None:
    """(value, as written when a fraction) of an answer expression: literals only."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = literal_answer(node.operand)
        if inner is None:
            return None
        return (-inner[0] if isinstance(node.op, ast.USub) else inner[0]), inner[1]
    if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
        if isinstance(node.value, int):
            return Fraction(node.value), None
        if isinstance(node.value, float):
            return Fraction(repr(node.value)), None
        if isinstance(node.value, str):
            value = _number_text(node.value)
            written = node.value.strip() if "/" in node.value else None
            return (value, written) if value is not None else None
    if _call_name(node) == "Fraction" and 1 <= len(node.args) <= 2 and not node.keywords:
        parts = [literal_answer(a) for a in node.args]
        if any(p is None for p in parts):
            return None
        if len(parts) == 1:
            return parts[0]
        (a, _), (b, _) = parts
        if b == 0:
            return None
        written = f"{a}/{b}" if a.denominator == b.denominator == 1 else None
        return a / b, written
    return None


@dataclasses.dataclass(frozen=True)
class Answer:
    question: str         # the test cell's grade id
    value: Fraction
    written: str | None   # "10/14" as the test writes it


def quiz_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and _nbgrader(c).get("grade")
            and str(_nbgrader(c).get("grade_id", "")).startswith(QUIZ_PREFIX)]


def answers(nb) -> list[Answer]:
    """The numeric answers of a notebook's knowledge checks."""
    found = []
    for cell in quiz_cells(nb):
        tree = _hidden_tests(cell.source)
        for node in ast.walk(tree) if tree else ():
            if _call_name(node) != "same_number":
                continue
            expr = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "expected"), None)
            got = literal_answer(expr) if expr is not None else None
            if got is not None:
                found.append(Answer(_nbgrader(cell)["grade_id"], *got))
    return found


# ---------------------------------------------------------------------------------------
# rule 2: no knowledge-check answer where a student can read it
# ---------------------------------------------------------------------------------------
_SEPARATORS = ",_ \u00a0\u202f\u2009"     # thousands: comma, underscore, (narrow) spaces
_DIGITS = str.maketrans("०१२३४५६७८९", "0123456789")   # Devanagari digits read as ASCII


def _integer_pattern(n: int) -> str:
    digits = str(abs(n))
    groups = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    sep = f"(?P<sep>[{_SEPARATORS}]?)"
    body = groups[0] + "".join((sep if i == 1 else "(?P=sep)") + g
                               for i, g in enumerate(groups[1:], start=1))
    return (rf"(?<![\w.])(?<!\d[{_SEPARATORS}])" + ("-?" if n < 0 else "") + body
            + rf"(?!\w)(?![.{_SEPARATORS}]\d)")


def _significant_digits(decimal: str) -> int:
    return len(decimal.lstrip("-").replace(".", "").strip("0"))


def search_forms(answer: Answer) -> list[re.Pattern]:
    """The patterns under which an answer is searched; none for a too-common one."""
    value = answer.value
    if value.denominator == 1:
        return [re.compile(_integer_pattern(int(value)))] if abs(value) >= 100 else []
    fractions = {f"{value.numerator}/{value.denominator}"}
    if answer.written and "/" in answer.written:
        fractions.add(re.sub(r"\s+", "", answer.written))
    forms = []
    for text in sorted(fractions):
        a, b = text.split("/", 1)
        forms.append(rf"(?<![\w./]){re.escape(a)}/{re.escape(b)}(?![\w/]|\.\d)")
        forms.append(rf"\\frac\{{{re.escape(a)}\}}\{{{re.escape(b)}\}}")
    three = f"{float(value):.3f}"
    # a round decimal such as 0.5 or 0.25 is everywhere in a course's text: only decimals
    # with 2 or more significant digits at 3 places are searched
    if _significant_digits(three) >= 2:
        for decimal in {three, f"{float(value):.2f}"}:
            whole, frac = decimal.lstrip("-").split(".")
            lead = "-?" if value < 0 else ""
            head = "0?" if whole == "0" else re.escape(whole)
            forms.append(rf"(?<![\w.]){lead}{head}\.{frac}(?!\d)")
    return [re.compile(f) for f in forms]


def _describe(answer: Answer) -> str:
    value = answer.value
    return str(value.numerator) if value.denominator == 1 else (answer.written or str(value))


def _hits(text: str, forms) -> re.Match | None:
    text = text.translate(_DIGITS)
    for form in forms:
        m = form.search(text)
        if m:
            return m
    return None


def package_strings(package: Path):
    """(relative path, line, text) of every string constant in ``package/**/*.py``."""
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield path, node.lineno, node.value


def check_visible_answers(root: Path, eds: list[Edition]) -> list[Finding]:
    """Every knowledge-check answer of the course (source/ of the English course: the
    editions run the same code) searched in every release/ notebook of every edition and
    in the package's strings: a student has all of them at hand."""
    found = {}
    for path in _notebooks(root / "source"):
        for a in answers(_read(path)):
            found.setdefault((a.question, a.value), a)
    forms = [(a, search_forms(a)) for a in found.values()]
    forms = [(a, f) for a, f in forms if f]
    findings = []
    for ed in eds:
        for path in _notebooks(ed.release):
            shown = _display(ed, "release", path, ed.release)
            for cell in _read(path).cells:
                for a, f in forms:
                    m = _hits(cell.source, f)
                    if m:
                        findings.append(Finding(shown, cell.id, "answer-visible", (
                            f"knowledge-check answer {_describe(a)} ({a.question}) appears "
                            f"in student-visible text (as {m.group(0)!r})")))
    package = root / "tlcourse"
    for path, line, text in package_strings(package) if package.is_dir() else ():
        for a, f in forms:
            m = _hits(text, f)
            if m:
                at = line + text[:m.start()].count("\n")
                findings.append(Finding(path.relative_to(root).as_posix(), f"line {at}",
                                        "answer-visible", (
                    f"knowledge-check answer {_describe(a)} ({a.question}) appears in "
                    f"student-visible text, a string of the package (as {m.group(0)!r})")))
    return findings


# ---------------------------------------------------------------------------------------
# rule 3: multiple choice
# ---------------------------------------------------------------------------------------
def seeded_position(seed: str, question_id: str, n_options: int) -> int:
    """Where the correct option of a question with ``n_options`` options must be."""
    return random.Random(f"{seed}:{question_id}").randrange(n_options)


def read_seed(root: Path) -> str | None:
    path = root / SEED_FILE
    return path.read_text().strip() if path.is_file() else None


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _assigned_names(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


@dataclasses.dataclass
class _Options:
    cell: object
    variable: str
    options: list[str] | None      # None: not a list of string literals


def _options_cells(nb) -> dict[str, _Options]:
    """{question id: the cell that calls quiz.ask(question id, VAR) and VAR's value there}."""
    found = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or "ask" not in cell.source:
            continue
        tree = _parse(cell.source)
        if tree is None:
            continue
        values = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):
                v = node.value
                ok = isinstance(v, (ast.List, ast.Tuple)) and all(
                    isinstance(e, ast.Constant) and isinstance(e.value, str) for e in v.elts)
                values[node.targets[0].id] = [e.value for e in v.elts] if ok else None
        for node in ast.walk(tree):
            if (_call_name(node) == "ask" and len(node.args) == 2
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[1], ast.Name)):
                var = node.args[1].id
                found[node.args[0].value] = _Options(cell, var, values.get(var))
    return found


def _expected_choice(tree, call, options: _Options | None):
    """(index of the correct option or None, the names the comparison reads)."""
    arg = call.args[1] if len(call.args) > 1 else None
    assigned = {n.targets[0].id: n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)}
    if isinstance(arg, ast.Name) and arg.id in assigned:
        arg = assigned[arg.id]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        letter = arg.value.strip().strip("()").lower()
        return (LETTERS.index(letter) if len(letter) == 1 and letter in LETTERS else None), arg
    if _call_name(arg) == "letter" and len(arg.args) == 3 and options and options.options:
        correct = arg.args[2]
        if isinstance(correct, ast.Constant) and correct.value in options.options:
            return options.options.index(correct.value), arg
    return None, arg


def check_multiple_choice(edition: Edition, seed: str | None) -> list[Finding]:
    findings = []
    for path in _notebooks(edition.source):
        shown = _display(edition, "source", path, edition.source)
        nb = _read(path)
        options_at = _options_cells(nb)
        editable = set()
        for cell in nb.cells:
            if cell.cell_type == "code" and _nbgrader(cell).get("solution"):
                tree = _parse(cell.source)
                editable |= _assigned_names(tree) if tree else set()
        for cell in quiz_cells(nb):
            qid = _nbgrader(cell)["grade_id"]
            tree = _hidden_tests(cell.source)
            calls = [n for n in ast.walk(tree) if _call_name(n) in ("same_choice", "letter")] \
                if tree else []
            if not calls:
                continue                  # not a multiple-choice question
            opts = options_at.get(qid)
            choice = next((c for c in calls if _call_name(c) == "same_choice"), None)
            index, compared = _expected_choice(tree, choice, opts) if choice else (None, None)
            n = len(opts.options) if opts and opts.options else None
            want = LETTERS[seeded_position(seed, qid, n)] if seed is not None and n else None

            def add(cell_id, message):
                findings.append(Finding(shown, cell_id, "multiple-choice", message))

            if opts is None:
                add(cell.id, f"{qid} is multiple choice, but no cell calls "
                             f"quiz.ask({qid!r}, OPTIONS): its options are nowhere")
            else:
                meta = _nbgrader(opts.cell)
                locked = (str(meta.get("grade_id", "")).startswith(OPTIONS_PREFIX)
                          and meta.get("solution") is False and meta.get("grade") is False
                          and meta.get("locked") is True)
                if not locked:
                    add(opts.cell.id, (
                        f"the options of {qid} ({opts.variable}) are in a student-editable "
                        f"cell (grade id {meta.get('grade_id')!r}, solution "
                        f"{meta.get('solution')}, locked {meta.get('locked')}); put them in a "
                        f"locked cell of their own (grade_id {OPTIONS_PREFIX}..., solution "
                        f"false, grade false, locked true)"))
                if opts.options is None:
                    add(opts.cell.id, f"the options of {qid} ({opts.variable}) are not a "
                                      f"list of string literals")
            cell_answer = None            # the student's answer: the one name it may read
            if choice is not None and choice.args and isinstance(choice.args[0], ast.Name):
                cell_answer = choice.args[0].id
            reads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                     and isinstance(n.ctx, ast.Load)} - {cell_answer}
            forbidden = sorted(reads & (editable | ({opts.variable} if opts else set())))
            if forbidden:
                add(cell.id, (
                    f"the hidden test of {qid} reads {', '.join(forbidden)} (the options "
                    f"variable or a name a student-editable cell assigns): compare with a "
                    f"literal letter, quiz.same_choice({cell_answer or 'answer'}, "
                    f"\"{want or 'x'}\")"))
            elif choice is None or not isinstance(compared, ast.Constant):
                add(cell.id, f"the hidden test of {qid} does not compare with a literal "
                             f"letter (quiz.same_choice(answer, \"{want or 'x'}\"))")
            if seed is None:
                add(cell.id, f"{qid} is multiple choice and {SEED_FILE} is missing: no seed "
                             f"places its correct option")
            elif want is not None and index is not None and LETTERS[index] != want:
                add(opts.cell.id, (
                    f"the correct option of {qid} is option {LETTERS[index]} "
                    f"({opts.options[index]!r}); the correct option must be option {want} "
                    f"(seeded by {SEED_FILE})"))
            elif want is not None and index is None and isinstance(compared, ast.Constant):
                add(cell.id, f"the hidden test of {qid} expects {compared.value!r}, not one "
                             f"of the {n} options' letters")
    return findings


# ---------------------------------------------------------------------------------------
# markdown sentences
# ---------------------------------------------------------------------------------------
def sentences(markdown: str) -> list[str]:
    """A markdown cell's sentences; each table row on its own."""
    out, para = [], []
    for line in markdown.splitlines() + [""]:
        if line.lstrip().startswith("|") or not line.strip():
            if para:
                out += re.split(r"(?<=[.!?।])\s+", " ".join(para))
                para = []
            if line.strip():
                out.append(line)
        else:
            para.append(line.strip())
    return [s for s in out if s.strip()]


def _markdown(edition: Edition):
    """(shown path, cell, sentence) for every markdown sentence of an edition's source/."""
    for path in _notebooks(edition.source):
        shown = _display(edition, "source", path, edition.source)
        for cell in _read(path).cells:
            if cell.cell_type == "markdown":
                for sentence in sentences(cell.source):
                    yield shown, cell, sentence


# ---------------------------------------------------------------------------------------
# rule 4: claims about recorded figures
# ---------------------------------------------------------------------------------------
_PATHLIKE = r"(`[^`\n]+`|[\w.-]*/[\w./-]*)"
_CLAIMS = [
    re.compile(r"\b(?:recorded|measured|saved|listed|stored)\s+in\s+" + _PATHLIKE, re.I),
    # Hindi: "`X` में दर्ज / सहेजी / मापी / सूचीबद्ध"
    re.compile(_PATHLIKE + r"\s+में\s+(?:दर्ज|सहेज|मापी|मापे|सूचीबद्ध|रिकॉर्ड)"),
]
SCRIPT_SUFFIXES = {".py", ".sh", ".bash", ".ps1", ".bat", ".ipynb", ".toml", ".cfg", ".ini"}
_FINDING_LINE = re.compile(r" \[(?:" + "|".join(RULES) + r")\]: ")
_NEGATED_BEFORE = re.compile(r"\b(?:no|not|without|none)\s+(?:\w+\s+){0,2}$", re.I)
_NEGATED_AFTER = re.compile(r"""s?["']?\s*[:=]\s*(?:none\b|\[\s*\]|null\b|false\b|0\b|n/a\b|-)""",
                            re.I)


def qualifiers(sentence: str) -> list[str]:
    """Where the sentence says figures were measured: GPU, a profile."""
    found = ["GPU"] if re.search(r"\bGPUs?\b", sentence, re.I) else []
    return found + [name for name in PROFILE_NAMES if _names_profile(sentence, name)]


def _figure_files(path: Path) -> list[Path]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    out = []
    for f in files:
        if f.suffix.lower() in SCRIPT_SUFFIXES or "__pycache__" in f.parts:
            continue
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if re.search(r"\d", text):
            out.append(f)
    return out


def holds_qualifier(files: list[Path], qualifier: str) -> bool:
    """Whether a figure file says ``qualifier`` other than as "none" / "no ...".  Lines
    that are this checker's own findings (a saved report) are not figures."""
    pattern = re.compile(rf"\b{re.escape(qualifier)}", re.I)
    for f in files:
        text = "\n".join(line for line in f.read_text(encoding="utf-8").splitlines()
                         if not _FINDING_LINE.search(line))
        for m in pattern.finditer(text):
            after = text[m.end():m.end() + 12]
            if re.match(r"[\w]", after[:1]) and not re.match(r"s\b", after):
                continue                  # part of a longer word (gpu_check, fullness)
            if _NEGATED_BEFORE.search(text[max(0, m.start() - 30):m.start()]):
                continue
            if _NEGATED_AFTER.match(after):
                continue
            return True
    return False


def check_recorded_figures(edition: Edition, repo: Path) -> list[Finding]:
    findings = []
    for shown, cell, sentence in _markdown(edition):
        for claim in _CLAIMS:
            for m in claim.finditer(sentence):
                named = m.group(1).strip("`").rstrip(".,;:)")
                if not named or named.startswith(("http:", "https:")):
                    continue
                target = next((base / named for base in (repo, edition.course)
                               if (base / named).exists()), None)

                def add(message):
                    findings.append(Finding(shown, cell.id, "recorded-figures", message))

                if target is None:
                    add(f"says figures are {m.group(0).strip()!r}, but {named} does not exist")
                    continue
                files = _figure_files(target)
                if not files:
                    add(f"says figures are {m.group(0).strip()!r}, but {named} holds no "
                        f"figures (no file with a number, scripts aside)")
                    continue
                missing = [q for q in qualifiers(sentence) if not holds_qualifier(files, q)]
                if missing:
                    add(f"says figures measured on {' / '.join(missing)} are "
                        f"{m.group(0).strip()!r}, but {named} holds no {' or '.join(missing)} "
                        f"figures (its figure files name {' or '.join(missing)} only as "
                        f"absent, if at all)")
    return findings


# ---------------------------------------------------------------------------------------
# rule 5: numbers about the stand-ins and the profiles
# ---------------------------------------------------------------------------------------
# The real datasets, as their authors publish them (the `full` profile uses all of it):
# Cats vs Dogs 25,000 photos (12,500 a class); Oxford-IIIT Pet 7,349 photos in the official
# lists (trainval 3,680, test 3,669; 7,390 in the archive), 37 breeds of about 200 each.
REAL_IMAGES = {25_000, 12_500, 7_349, 3_680, 3_669, 7_390, 200}
CATS_DOGS_CLASSES = 2
UNREADABLE = ("empty", "truncated", "not_an_image")   # odd files the scan leaves out


def _literal_in(func, name: str):
    """The literal a generator function assigns to ``name`` (dict or dict(zip(...)))."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name
                                                for t in node.targets):
            value = node.value
            if _call_name(value) == "dict" and value.args and _call_name(value.args[0]) == "zip":
                keys, vals = (ast.literal_eval(a) for a in value.args[0].args)
                return dict(zip(keys, vals))
            return ast.literal_eval(value)
    raise LookupError(f"{func.__name__} assigns no {name}")


def standin_counts() -> dict[str, set[int]]:
    """What a text can quote about the stand-ins (smoke): per class or breed and in all."""
    from tlcourse import datasets, standin
    import numpy as np

    counts: dict[str, set[int]] = {"per class": set(), "total": set()}
    # Cats vs Dogs: CATS_DOGS_PER_CLASS written per class, the unreadable odd files left
    # out, then datasets.cats_dogs' stratified train/val/test split
    odd = _literal_in(standin.write_cats_dogs, "odd")
    readable = [standin.CATS_DOGS_PER_CLASS - sum(k in UNREADABLE for k in odd[c]) for c in odd]
    labels = np.repeat(np.arange(len(readable)), readable)
    fractions = inspect.signature(datasets.cats_dogs).parameters["fractions"].default
    parts = [labels[idx] for idx in datasets.stratified_split(labels, fractions)]
    per_class = [[int((p == c).sum()) for p in parts] for c in range(len(readable))]
    for c, sizes in enumerate(per_class):
        counts["per class"] |= {standin.CATS_DOGS_PER_CLASS, readable[c], *sizes,
                                sizes[0] + sizes[1]}
    counts["total"] |= {standin.CATS_DOGS_PER_CLASS * len(odd), sum(readable),
                        *(len(p) for p in parts), len(parts[0]) + len(parts[1])}
    # Oxford-IIIT Pet: PETS_PER_BREED per breed, every other one into trainval (the first
    # of a breed with an odd file), the unreadable left out, 20% of trainval as validation
    odd_breeds = _literal_in(standin.write_oxford_pets, "odd_breeds")
    breeds = standin.PET_BREEDS
    trainval = [(standin.PETS_PER_BREED + 1) // 2 - (odd_breeds.get(b) in UNREADABLE)
                for b in breeds]
    test = standin.PETS_PER_BREED // 2
    tv_labels = np.repeat(np.arange(len(breeds)), trainval)
    val_fraction = inspect.signature(datasets.oxford_pets).parameters["val_fraction"].default
    train_idx, val_idx = datasets.stratified_split(tv_labels, (1 - val_fraction, val_fraction))
    for b in range(len(breeds)):
        counts["per class"] |= {standin.PETS_PER_BREED, trainval[b], test,
                                int((tv_labels[train_idx] == b).sum()),
                                int((tv_labels[val_idx] == b).sum())}
    counts["total"] |= {standin.PETS_PER_BREED * len(breeds), sum(trainval), test * len(breeds),
                        len(train_idx), len(val_idx)}
    return counts


def profile_facts() -> dict[str, dict[str, set]]:
    """{profile: {kind of number: the values a text may quote}}: kinds images, epochs,
    px, steps, from tlcourse.profiles (and the stand-ins for a stand-in profile)."""
    from tlcourse.profiles import PROFILES

    facts = {}
    for name, p in PROFILES.items():
        images = {p.batch_size}
        if p.images_per_class:
            images |= {p.images_per_class, p.images_per_class * CATS_DOGS_CLASSES}
        if p.on_standin:
            counts = standin_counts()
            images |= counts["per class"] | counts["total"]
        else:
            images |= REAL_IMAGES if p.images_per_class is None else set()
        facts[name] = {
            "images": images,
            "epochs": {p.epochs_head, p.epochs_finetune, p.epochs_head + p.epochs_finetune,
                       p.epochs_features, p.pets_epochs_head, p.pets_epochs_finetune,
                       p.pets_epochs_head + p.pets_epochs_finetune},
            "px": {p.image_size, p.pets_image_size},
            # the adversarial notebook grows its ideal images for half the steps
            "steps": {p.ideal_image_steps, p.ideal_image_steps // 2, p.attack_steps},
        }
    return facts


_NOUNS = {
    "images": r"(?:pictures?|images?|photos?|photographs?|JPEGs?|per class|per breed)(?![a-z])"
              r"|तस्वीर|इमेज|फोटो",
    "epochs": r"(?:epochs?|epoch\(s\))(?![a-z])|एपॉक",
    "px": r"px(?![a-z])",
    "steps": r"steps?(?![a-z])|स्टेप",
}
_ADJECTIVES = (r"generated|synthetic|real|training|validation|test|stand-in|labell?ed|more|"
               r"sample|बनाई गई|ट्रेनिंग|वैलिडेशन|टेस्ट|सिंथेटिक|असली|स्टैंड-इन|लेबल वाली")
_QUOTE = re.compile(
    r"(?<![\w.,/])(?P<number>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)"
    rf"(?:\s+(?:{_ADJECTIVES})){{0,3}}\s*(?P<noun>" + "|".join(
        f"(?P<{kind}>{pattern})" for kind, pattern in _NOUNS.items()) + ")", re.I)
_STANDIN = re.compile(r"\bstand-ins?\b|\bgenerated\b|\bsynthetic\b|स्टैंड-इन|बनाई गई|सिंथेटिक",
                      re.I)


def _names_profile(sentence: str, name: str) -> bool:
    return bool(re.search(rf"`{name}`|\b{name}\s+(?:profile|प्रोफाइल)", sentence, re.I))


def profiles_named(sentence: str) -> list[str]:
    named = [n for n in PROFILE_NAMES if _names_profile(sentence, n)]
    if _STANDIN.search(sentence) and "smoke" not in named:
        named.insert(0, "smoke")
    return named


def quoted_numbers(sentence: str):
    """(number, kind, the quote) for each ``<number> <counted noun>`` of a sentence."""
    for m in _QUOTE.finditer(sentence):
        if re.search(r"=\s*$", sentence[:m.start()]):
            continue                      # `NAME` = 10 epochs: the sentence defines it
        kind = next(k for k in _NOUNS if m.group(k))
        yield Fraction(m.group("number").replace(",", "")), kind, " ".join(m.group(0).split())


def check_profile_numbers(edition: Edition, facts: dict) -> list[Finding]:
    findings = []
    for shown, cell, sentence in _markdown(edition):
        named = profiles_named(sentence)
        if not named:
            continue
        for number, kind, quote in quoted_numbers(sentence):
            allowed = set().union(*(facts[n][kind] for n in named))
            if number in allowed:
                continue
            values = ", ".join(f"{v:,}" for v in sorted(allowed))
            shown_number = f"{int(number):,}" if number.denominator == 1 else str(float(number))
            findings.append(Finding(shown, cell.id, "profile-numbers", (
                f"{quote!r}: {shown_number} {kind} is not a figure of "
                f"{' / '.join(f'`{n}`' for n in named)}; it could be {values}")))
    return findings


# ---------------------------------------------------------------------------------------
def check_course(root: Path, generated: Path | None = None) -> list[Finding]:
    """Every finding of every rule over the English course at ``root`` and its editions.
    ``generated``: where release/ and editions/ were just generated (the build's fresh
    output), read instead of the committed copies."""
    root = Path(root)
    eds = editions(root, generated)
    seed = read_seed(root)
    facts = profile_facts()
    findings = []
    for ed in eds:
        findings += check_answer_prompts(ed)
    findings += check_visible_answers(root, eds)
    for ed in eds:
        findings += check_multiple_choice(ed, seed)
    for ed in eds:
        findings += check_recorded_figures(ed, root)
    for ed in eds:
        findings += check_profile_numbers(ed, facts)
    return sorted(set(findings), key=lambda f: (RULES.index(f.rule), f.path, f.cell, f.message))


def main(argv: list[str] | None = None) -> int:
    from tlcourse.course.paths import main_root, repo_root

    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]).resolve() if argv else main_root(repo_root())
    findings = check_course(root)
    for finding in findings:
        print(finding)
    counts = ", ".join(f"{r} {sum(f.rule == r for f in findings)}" for r in RULES)
    print(f"{len(findings)} finding(s) ({counts})")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

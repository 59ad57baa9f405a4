"""The command line: every bad argument is one line naming the value, exit status 2,
and is caught before any model loads (issue: 16-37-line tracebacks before)."""
import shutil
import signal
import struct
import subprocess
import sys
import zlib

import pytest

from course import ROOT
from tlcourse import photos


def tlcourse(*args, timeout=120):
    """Run the real command in a fresh process; a test fails on a traceback."""
    return subprocess.run([sys.executable, "-m", "tlcourse.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def chelsea():
    return str(photos.chelsea())


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "notes.txt").write_text("not an image")
    (d / "folder.jpg").mkdir()
    # a PNG whose header says 10000 x 10000: refused for its size before any pixel is read
    ihdr = struct.pack(">IIBBBBB", 10000, 10000, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                + struct.pack(">I", zlib.crc32(kind + data)))
    (d / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return d


def _usage_cases(chelsea, bad):
    return {
        "missing image": ["attack", str(bad / "nope.jpg"), "--target", "tabby"],
        "a directory": ["attack", str(bad / "folder.jpg"), "--target", "tabby"],
        "not an image": ["attack", str(bad / "notes.txt"), "--target", "tabby"],
        "unknown model": ["attack", chelsea, "--target", "tabby", "--model", "alexnet"],
        "unknown class": ["attack", chelsea, "--target", "unicorn"],
        "class index 5000": ["attack", chelsea, "--target", "5000"],
        "eps abc": ["attack", chelsea, "--target", "tabby", "--eps", "abc"],
        "eps -1": ["attack", chelsea, "--target", "tabby", "--eps=-1"],
        "eps 2/0": ["attack", chelsea, "--target", "tabby", "--eps", "2/0"],
        "eps nan": ["attack", chelsea, "--target", "tabby", "--eps", "nan"],
        "eps 300": ["attack", chelsea, "--target", "tabby", "--eps", "300"],
        "eps 0": ["attack", chelsea, "--target", "tabby", "--eps", "0"],
        "eps 1e309 (beyond a float)": ["attack", chelsea, "--target", "tabby", "--eps", "1e309"],
        "eps 1e9999999": ["attack", chelsea, "--target", "tabby", "--eps", "1e9999999"],
        "eps inf": ["attack", chelsea, "--target", "tabby", "--eps", "inf"],
        "grade student timeout 1e309": ["grade", "--student-timeout", "1e309"],
        "image of 100 megapixels": ["classify", str(bad / "huge.png")],
        "steps 0": ["attack", chelsea, "--target", "tabby", "--steps", "0"],
        "out a directory": ["attack", chelsea, "--target", "tabby", "--out", str(bad)],
        "out in a missing folder": ["attack", chelsea, "--target", "tabby",
                                    "--out", str(bad / "no" / "adv.png")],
        "classify -k -1": ["classify", chelsea, "-k", "-1"],
        "classify -k 1001": ["classify", chelsea, "-k", "1001"],
        "classify missing": ["classify", str(bad / "nope.jpg")],
        "classify model": ["classify", chelsea, "--model", "alexnet"],
        "fetch unknown": ["fetch", "no_such_asset"],
        "run timeout": ["run", "--timeout", "0"],
        "run jobs": ["run", "--jobs", "0"],
        "grade cell timeout": ["grade", "--cell-timeout", "0"],
        "grade unknown assignment": ["grade", "nope"],
        "framework": ["classify", chelsea, "--framework", "jax"],
        "i18n unknown edition": ["i18n", "todo", "xx"],
        "i18n put to no such notebook": ["i18n", "put", "hi", "nope/Nope", "cell"],
        "lab fresh unknown notebook": ["lab", "--fresh", "nope/Nope"],
        "lab unknown edition": ["lab", "--edition", "xx"],
        "bench unknown part": ["bench", "modles"],
    }


def test_every_bad_argument_is_one_line_and_exit_2(chelsea, bad_files):
    problems = []
    for case, args in _usage_cases(chelsea, bad_files).items():
        proc = tlcourse(*args, timeout=60)      # at once: "1e9999999" once took 10 s to parse
        err = proc.stderr.strip()
        # argparse may print its usage block first; the error itself is one line
        errors = [line for line in err.splitlines() if "error:" in line]
        if proc.returncode != 2 or len(errors) != 1 or "Traceback" in err:
            problems.append(f"{case}: exit {proc.returncode}, stderr {err!r}")
    assert not problems, "\n".join(problems)


def test_grade_help_says_where_submissions_go_what_it_writes_and_how():
    """An instructor learns from --help alone: the course root (or the edition's), the
    layout nbgrader collect makes, feedback by default and how to skip it, an example."""
    proc = tlcourse("grade", "--help", timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())          # argparse wraps lines
    for needed in ("submitted/<student>/<assignment>/<Notebook>.ipynb", "course root",
                   "editions/hi/", "nbgrader collect", "by default, feedback",
                   "--no-feedback skips it", "sandbox", "examples: tlcourse grade pets_lab",
                   "exit status: 0", "1 no submissions found", "2 a bad argument"):
        assert needed in text, f"{needed!r} is not in tlcourse grade --help:\n{proc.stdout}"


def _course_without_submissions(tmp_path):
    """A course root (nbgrader_config.py, source/<assignment>/) with nothing handed in, or
    only other assignments / other students."""
    for name in ("pets_lab", "adversarial_cat"):
        (tmp_path / "source" / name).mkdir(parents=True)
        (tmp_path / "source" / name / "Nb.ipynb").write_text("{}")
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    return tmp_path


def test_grade_without_submissions_says_so_at_once_in_one_line(tmp_path):
    import time
    course = _course_without_submissions(tmp_path)

    def grade(*args):
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "tlcourse.cli", "grade", *args], cwd=course,
                              capture_output=True, text=True, timeout=120)
        return proc, time.monotonic() - start

    # alice handed in adversarial_cat only: nothing for pets_lab, nothing of bob's
    (course / "submitted" / "alice" / "adversarial_cat").mkdir(parents=True)
    cases = {("pets_lab",): "submitted/<student>/pets_lab/",
             ("adversarial_cat", "--student", "bob"): "submitted/bob/adversarial_cat/"}
    for args, where in cases.items():
        proc, seconds = grade(*args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert proc.stderr.strip() == (f"tlcourse grade: no submissions found under {where} in "
                                       f"{course} (`nbgrader collect` puts them there; "
                                       "see tlcourse grade --help)"), (args, proc.stderr)
        assert proc.stdout == "", "nothing else before it (no profile line, no table)"
        # before nbgrader, the gradebook or the sandbox: nothing written, seconds not minutes
        assert not (course / "gradebook.db").exists() and seconds < 30, (args, seconds)
    shutil.rmtree(course / "submitted")
    proc, _ = grade()
    assert proc.returncode == 1 and "no submissions found under submitted/<student>/<assignment>/" \
        in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_bad_timeout_variable_is_a_usage_error():
    import os
    proc = subprocess.run([sys.executable, "-m", "tlcourse.cli", "fetch", "mobilenet_v2_torch"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, TLCOURSE_URL_TIMEOUT="soon"))
    assert proc.returncode == 2 and "TLCOURSE_URL_TIMEOUT='soon'" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_out_of_range_and_oversized_values_say_why(chelsea, bad_files):
    err = tlcourse("attack", chelsea, "--target", "tabby", "--eps", "1e309").stderr
    assert "1e309" in err and "out of range" in err
    err = tlcourse("classify", str(bad_files / "huge.png")).stderr
    assert "10000x10000 = 100 megapixels" in err and "Resize it" in err, err


def test_ctrl_c_is_one_line_and_exit_130():
    # SIGINT as in a terminal: a shell's background job (nohup ... &) starts with it ignored
    code = ("import signal, sys, time; from tlcourse import cli, datasets\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "def slow(*args, **kwargs):\n"
            "    print('started', flush=True); time.sleep(60)\n"
            "datasets.prepare = slow\n"
            "sys.exit(cli.main(['fetch', 'cats_dogs', '--standin']))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip() == ("tlcourse fetch: interrupted; run the same command again to resume")


def test_bad_value_is_named(chelsea, bad_files):
    err = tlcourse("attack", chelsea, "--target", "5000").stderr
    assert "5000" in err and "0-999" in err
    err = tlcourse("attack", chelsea, "--target", "tabby", "--eps", "2/0").stderr
    assert "2/0" in err and "4/255" in err
    err = tlcourse("classify", chelsea, "-k", "-1").stderr
    assert "-k -1" in err and "1 to 1000" in err


def test_arguments_are_checked_before_a_model_loads(bad_files):
    """A missing file is reported at once: no framework is imported for it."""
    code = ("import sys; from tlcourse.cli import main\n"
            f"rc = main(['attack', {str(bad_files / 'nope.jpg')!r}, '--target', 'tabby'])\n"
            "assert rc == 2, rc\n"
            "loaded = [m for m in ('torch', 'tensorflow') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_good_classify_still_works(chelsea):
    proc = tlcourse("classify", chelsea, "-k", "2")
    assert proc.returncode == 0, proc.stderr
    rows = [l for l in proc.stdout.splitlines() if l.startswith("  ")]
    assert len(rows) == 2 and "cat" in proc.stdout.lower()


def test_every_command_goes_through_the_one_parser():
    """A module users run with `python -m` is a thin call into `tlcourse.cli.main`; only the
    sandbox's kernel launcher (run by the grading kernelspec, not by people) and the GPU
    runner's settings (environment variables) stand apart, and nothing reads sys.argv by hand."""
    import ast
    launchers = {"tlcourse/course/sandbox.py"}
    for path in sorted((ROOT / "tlcourse").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("tlcourse/cli/"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "sys.argv":
                assert ast.unparse(node) == "sys.argv[1:]", f"{rel}: {ast.unparse(node)} read by hand"
        mains = [n for n in tree.body if isinstance(n, ast.If) and "__name__" in ast.unparse(n.test)]
        for block in mains:
            text = ast.unparse(block)
            assert "cli" in text and "main(" in text or rel in launchers or "argv" not in text, \
                f"{rel}: its __main__ block should call tlcourse.cli.main"

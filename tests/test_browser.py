"""Students' JupyterLab, tested in a real browser.

The real JupyterLab server from this environment (the command `make lab` runs,
`tlcourse.course.lab.command` in the view `tlcourse.course.lab.view_env` configures) is
started on 127.0.0.1, a free port and a token, in a temporary copy of the course (a git
repository of its own, so that `git status` there says what a server changed), so no
file of the repository is touched. Debian's headless Chromium (/usr/bin/chromium),
driven by Playwright, then does what a student and an instructor do:

* student (`make lab`): lands on START_HERE (the copy in my-work/), follows its link to
  their own copy of a release notebook (in my-work/, made as `make lab` makes it; on the
  course kernel), presses nbgrader's Validate on the untouched notebook and is told, first,
  how many checks pass and how many points the failing ones carry, then one line per
  failing check (tlcourse/course/validate.py), never a traceback into the package; gives
  a knowledge check a word for a number and is refused at once in one line; runs the first
  cells and sees the profile banner and a plot;
* student view: the file browser shows my-work/ only (no source/, notebooks/, release/),
  there is no Nbgrader menu, no Create Assignment panel, no /formgrader;
* opening pages changes no tracked file: the landing page and a notebook are opened with
  their kernels and left until JupyterLab's autosave has written (its interval set to
  AUTOSAVE_S seconds in the test's settings instead of 120: the same code path, seconds
  instead of minutes); `git status` in the course copy is then clean, and the landing
  copy in my-work/ shows that autosave did write (the kernel's language details);
* instructor (`make lab ROLE=instructor`): the whole course, the Nbgrader menu, Create
  Assignment, and the Formgrader with the course's assignments;
* instructor, a hostile submission: output and markdown that try to run script
  (``<script>``, ``onerror``, a ``javascript:`` link, a JavaScript output), autograded
  with the course's nbgrader_config.py; neither the feedback page nor the formgrader's
  page for it runs any of it, and its plot still loads (tlcourse/course/sanitize.py);
* Hindi student: lands on the Hindi edition's START_HERE (``make lab EDITION=hi``) and opens
  a Hindi notebook and validates it (the same report, its sections in Hindi); Devanagari
  must render as letters, not as boxes (tofu), which is
  checked on screenshots: distinct letters drawn by JupyterLab's own fonts must give
  distinct pictures, where a missing font draws every one as the same box; the same
  student view, and no tracked file of the edition changed.

Screenshots go to test-artifacts/browser/ (git-ignored). The server, its kernels
and the browser are stopped by their own process ids, also when a test fails.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import psutil
import pytest

from course import ROOT, assignments
from tlcourse.course import i18n, lab
from tlcourse.course.lab import COURSE_KERNEL_DISPLAY

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("TLCOURSE_CHROMIUM", "/usr/bin/chromium"))
INSTALL_HINT = ("the browser tests need Debian's Chromium: install it with "
                "`sudo apt-get update && sudo apt-get install -y chromium` (.ci/run does)")
# What works on a machine with a closed network: without the background-networking
# flags Chromium keeps dialling Google's hosts and its connections are refused.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
SERVER_START_S = 90
KERNEL_S = 150          # first torch import and the stand-in data on a busy 2-core machine
VALIDATE_S = 180        # nbgrader validate runs the whole (untouched) notebook
# JupyterLab's autosave interval in these servers (its default is 120 s): a dirty document
# is written within this many seconds, so the "no tracked file changes" checks wait seconds.
AUTOSAVE_S = 3


# ---------------------------------------------------------------- the landing page

def landing_links() -> list[str]:
    nb = nbformat.read(ROOT / lab.LANDING, as_version=4)
    assert all(c.cell_type == "markdown" for c in nb.cells), "the landing page runs no code"
    text = "\n".join(c.source for c in nb.cells)
    return re.findall(r"\]\(([^)\s]+\.ipynb)\)", text)


def test_landing_page_links_the_students_copy_of_every_release_notebook():
    links = landing_links()
    copies = sorted(f"{lab.WORK}/{p.relative_to(ROOT / 'release').as_posix()}"
                    for p in (ROOT / "release").glob("*/*.ipynb"))
    assert sorted(links) == copies, "START_HERE.ipynb must link the student's copy of each once"
    ignored = subprocess.run(["git", "check-ignore", "-q", f"{lab.WORK}/x/y.ipynb"], cwd=ROOT)
    assert ignored.returncode == 0, f"{lab.WORK}/ must be git-ignored"
    text = (ROOT / lab.LANDING).read_text()
    for name in assignments():
        assert f"`{name}`" in text
    assert "Formgrader" in text and COURSE_KERNEL_DISPLAY in text


def test_landing_page_is_not_an_assignment_nor_collected():
    import tomllib
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert (ROOT / lab.LANDING).parent == ROOT and "." not in cfg["testpaths"]
    assert not list((ROOT / "source").glob(f"*/{lab.LANDING}"))


def test_landing_student_copies_are_made_once_and_never_overwritten(tmp_path):
    shutil.copytree(ROOT / "release", tmp_path / "release")
    made = lab.student_copies(tmp_path)
    release = sorted(p.relative_to(tmp_path / "release") for p in (tmp_path / "release").rglob("*")
                     if p.is_file())
    assert sorted(p.relative_to(tmp_path / lab.WORK) for p in made) == release
    mine = tmp_path / lab.WORK / "pets_lab" / "OxfordPetsPyTorch.ipynb"
    mine.write_text("my work")
    (tmp_path / lab.WORK / "adversarial_cat" / "AdversarialCatTF.ipynb").unlink()
    # the next start restores only what is missing (as nbgrader's fetch does on a hub)
    assert lab.student_copies(tmp_path) == [tmp_path / lab.WORK / "adversarial_cat" / "AdversarialCatTF.ipynb"]
    assert mine.read_text() == "my work"
    assert not list((tmp_path / lab.WORK).rglob(".*.ipynb*")), "no temporary files left"


def test_landing_start_over_puts_a_fresh_copy_beside_the_students(tmp_path):
    shutil.copytree(ROOT / "release", tmp_path / "release")
    lab.student_copies(tmp_path)
    mine = tmp_path / lab.WORK / "pets_lab" / "OxfordPetsPyTorch.ipynb"
    mine.write_text("my work")
    first = lab.fresh_copy("pets_lab/OxfordPetsPyTorch", tmp_path)
    second = lab.fresh_copy("pets_lab/OxfordPetsPyTorch.ipynb", tmp_path)
    assert (first.name, second.name) == ("OxfordPetsPyTorch-fresh.ipynb",
                                         "OxfordPetsPyTorch-fresh-2.ipynb")
    release = (tmp_path / "release" / "pets_lab" / "OxfordPetsPyTorch.ipynb").read_bytes()
    assert first.read_bytes() == second.read_bytes() == release
    assert mine.read_text() == "my work"
    for bad in ("pets_lab/Nope", "../release/pets_lab/OxfordPetsPyTorch"):
        with pytest.raises(ValueError, match="no such notebook"):
            lab.fresh_copy(bad, tmp_path)


def test_landing_fresh_command_is_a_usage_error_for_an_unknown_notebook():
    import sys
    done = subprocess.run([sys.executable, "-m", "tlcourse.cli", "lab", "--fresh", "nope/Nope"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "'nope/Nope': no such notebook" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


# ---------------------------------------------------------------- fixtures

def test_chromium_is_installed():
    # a missing browser fails the suite (with the fix), it is never skipped
    assert CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: {INSTALL_HINT}"


@pytest.fixture(scope="module")
def chromium():
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing: {INSTALL_HINT}", pytrace=False)
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_of_course(root: Path, dest: Path) -> Path:
    """A copy of the course root ``root`` in ``dest``, committed to a git repository of its
    own (with the course's .gitignore), then given the student copies and the landing
    copy `make lab` makes before it starts JupyterLab: what the servers may change (saves,
    gradebook.db) stays there, and `git status` there names any tracked file they changed."""
    dest.mkdir()
    for name in ("source", "release", "notebooks"):
        shutil.copytree(root / name, dest / name)
    for name in (lab.LANDING, ".gitignore"):
        shutil.copy(root / name, dest / name)
    (dest / "nbgrader_config.py").write_text(i18n.portable_config(root), encoding="utf-8")
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", "-c",
           "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the course"]):
        subprocess.run(git + args, cwd=dest, check=True, capture_output=True, timeout=120)
    lab.prepare(dest, log=lambda *_: None)
    return dest


def changed_tracked_files(course: Path) -> list[str]:
    """`git status --porcelain` of the course copy: tracked files changed, untracked files
    that no .gitignore covers."""
    done = subprocess.run(["git", "status", "--porcelain"], cwd=course, capture_output=True,
                          text=True, check=True, timeout=60)
    return done.stdout.splitlines()


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    return copy_of_course(ROOT, tmp_path_factory.mktemp("browser") / "course")


def stop(pid: int, group: bool, timeout: float = 15) -> None:
    """SIGTERM the process (or its process group), SIGKILL what is left after ``timeout``."""
    try:
        (os.killpg if group else os.kill)(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        try:
            (os.killpg if group else os.kill)(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def jupyterlab(course: Path, tmp_path_factory, name: str, role: str = "student"):
    """JupyterLab on the copy ``course`` in ``role``'s view; yields (base URL, token).
    Stopped, with its kernels, by pid.  Its log: test-artifacts/browser/<name>.log."""
    state = tmp_path_factory.mktemp("jupyter")
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ,
               # the user's Jupyter settings, workspaces and runtime files stay untouched
               JUPYTER_CONFIG_DIR=str(state / "config"), JUPYTER_RUNTIME_DIR=str(state / "runtime"),
               JUPYTER_DATA_DIR=str(state / "data"),      # notebook signatures (trust) go here
               JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"), IPYTHONDIR=str(state / "ipython"))
    extra = ["--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             f"--LabApp.user_settings_dir={state / 'settings'}",
             f"--LabApp.workspaces_dir={state / 'workspaces'}",
             # a safety net should the test runner die before its teardown: idle kernels
             # are culled and the idle server then exits by itself
             "--MappingKernelManager.cull_idle_timeout=600", "--MappingKernelManager.cull_interval=60",
             "--ServerApp.shutdown_no_activity_timeout=900"]
    # no "Would you like to get notified about official Jupyter news?" toast over the screenshots
    notification = state / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text('{"fetchNews": "false", "checkForUpdates": false}')
    autosave = state / "settings" / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
    autosave.parent.mkdir(parents=True)
    autosave.write_text(f'{{"autosave": true, "autosaveInterval": {AUTOSAVE_S}}}')
    log_path = ARTIFACTS / f"{name}.log"
    # the student view's private config (lab.view_env) is removed when the server has stopped
    with lab.view_env(role, env) as view, open(log_path, "w") as log:
        env.update(view)
        proc = subprocess.Popen(lab.command(course, role, port=port, token=token, open_browser=False,
                                            extra=extra),
                                cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + SERVER_START_S
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer within {SERVER_START_S} s:\n"
                                f"{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            yield url, token
        finally:
            # kernels run in sessions of their own: note their pids before the server goes
            try:
                kernels = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
            except psutil.NoSuchProcess:
                kernels = []
            stop(proc.pid, group=True)
            for pid in kernels:
                stop(pid, group=False, timeout=5)


@pytest.fixture(scope="module")
def server(course, tmp_path_factory):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):          # this run's screenshots only
        old.unlink()
    yield from jupyterlab(course, tmp_path_factory, "jupyterlab")


@pytest.fixture(scope="module")
def instructor_server(course, tmp_path_factory):
    """`make lab ROLE=instructor` on the same course copy."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield from jupyterlab(course, tmp_path_factory, "jupyterlab-instructor", role="instructor")


@pytest.fixture(scope="module")
def hindi_course(tmp_path_factory) -> Path:
    """The Hindi edition's course root (editions/hi/), as `make lab EDITION=hi` uses it."""
    return copy_of_course(ROOT / i18n.EDITIONS / "hi",
                          tmp_path_factory.mktemp("browser-hi") / "course")


@pytest.fixture(scope="module")
def hindi_server(hindi_course, tmp_path_factory):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield from jupyterlab(hindi_course, tmp_path_factory, "jupyterlab-hi")


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # Playwright starts this Chromium (never downloads one) with a fresh profile,
        # and closes it (its own child) when the block ends, failed test or not.
        b = pw.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    failed_before = request.session.testsfailed
    try:
        yield pg
    finally:
        if request.session.testsfailed > failed_before:   # what the browser showed at the failure
            try:
                pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failed.png"))
            except Exception:
                pass
        context.close()


def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def http_status(url: str, token: str, path: str) -> int:
    """The status the server answers for ``path`` (with the token, as a logged-in user)."""
    request = urllib.request.Request(f"{url}{path}", headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


STUDENT_ENTRIES = ["START_HERE.ipynb", "adversarial_cat", "pets_lab", "transfer_learning"]


def assert_student_view(page, url: str, token: str, name: str) -> None:
    """What the student's JupyterLab (on the page now) shows and serves: their copies and
    the landing page, nothing of the course tree, none of nbgrader's instructor tools."""
    from playwright.sync_api import expect

    listing = page.locator(".jp-DirListing-content .jp-DirListing-itemText")
    expect(listing.filter(has_text="START_HERE.ipynb")).to_have_count(1, timeout=60_000)
    assert sorted(listing.all_inner_texts()) == sorted(STUDENT_ENTRIES), listing.all_inner_texts()
    menus = page.locator(".lm-MenuBar-itemLabel")
    expect(menus.filter(has_text="Kernel")).to_have_count(1)        # the menu bar is there
    expect(menus.filter(has_text="Nbgrader")).to_have_count(0)      # Formgrader, lists
    expect(page.locator(".lm-TabBar-tab", has_text="Create Assignment")).to_have_count(0)
    expect(page.locator("#nbgrader-create_assignemnt")).to_have_count(0)   # nbgrader's id
    shot(page, name)
    # nor through the server: no formgrader, nothing of the course outside my-work/
    for path in ("/formgrader", "/formgrader/api/assignments", "/api/contents/source",
                 "/api/contents/notebooks/pets_lab", "/files/source/pets_lab/OxfordPetsPyTorch.ipynb",
                 "/api/contents/..%2Fsource"):
        assert http_status(url, token, path) in (403, 404), f"{path} is served to the student"
    assert http_status(url, token, "/api/contents/pets_lab/OxfordPetsPyTorch.ipynb") == 200


def language_details(path: Path) -> dict:
    return nbformat.read(path, as_version=4).metadata.get("language_info", {})


def assert_autosave_wrote_only_the_students_copies(course: Path, opened: list[Path]) -> None:
    """Wait until JupyterLab's autosave has written the kernel's language details into every
    notebook ``opened`` (copies in my-work/: the proof that a save happened), then no
    tracked file of ``course`` may have changed."""
    deadline = time.monotonic() + 10 * AUTOSAVE_S + 60
    waiting = list(opened)
    while waiting and time.monotonic() < deadline:
        waiting = [p for p in waiting if set(language_details(p)) <= {"name"}]
        time.sleep(1)
    assert not waiting, (f"autosave never wrote {[str(p) for p in waiting]} within "
                         f"{10 * AUTOSAVE_S + 60} s: this check would prove nothing")
    time.sleep(2 * AUTOSAVE_S)             # and a little longer: any other save has happened
    assert changed_tracked_files(course) == [], "opening pages changed the course's files"


# the Validate report's first line (tlcourse/course/validate.py), in English
SUMMARY_EN = ("{passed} of {total} checks pass; the {failing} failing carry {lost} of {points} "
              "points. Hidden tests run when it is graded.")


def summary_pattern(lang: str = "en") -> re.Pattern:
    """The summary line in ``lang`` (its catalog's translation), any numbers in its fields."""
    from tlcourse import messages

    parts = re.split(r"\{[^{}]+\}", messages.translate(SUMMARY_EN, lang=lang))
    return re.compile(r"\S+".join(re.escape(part) for part in parts))


def validate_report(page, nb, name: str, lang: str = "en") -> list[str]:
    """Press Validate in the notebook ``nb``; the report's lines (the dialog then closed).
    Its first line is the summary in ``lang``; no line comes from a traceback into the package."""
    from playwright.sync_api import expect

    nb.locator(".validate-button").get_by_role("button").click()
    report = page.locator(".jp-Dialog #validation-message")
    expect(report).to_be_visible(timeout=VALIDATE_S * 1000)
    expect(report).to_have_class(re.compile(r"\bvalidation-failed\b"))
    shot(page, name)
    lines = [line for line in report.inner_text().splitlines() if line.strip()]
    assert summary_pattern(lang).fullmatch(lines[0]), lines[:3]
    text = "\n".join(lines)
    for leak in ("The following cell failed", "Traceback", "tlcourse/", "site-packages", "File \""):
        assert leak not in text, f"{leak!r} in the Validate report:\n{text[:2000]}"
    page.locator(".jp-Dialog").get_by_role("button", name="Ok").click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    return lines


def run_first_cells(page, nb):
    """Run the notebook's first cells as a student does (select the first, Shift+Enter
    through title, setup text, parameters and imports); its cells."""
    cells = nb.locator(".jp-Notebook .jp-Cell")
    cells.first.click()
    page.keyboard.press("Escape")
    for _ in range(4):
        page.keyboard.press("Shift+Enter")
        time.sleep(0.2)
    return cells


# ---------------------------------------------------------------- the tests

def test_student_runs_and_validates_a_release_notebook(page, server):
    from playwright.sync_api import expect

    url, token = server
    page.goto(f"{url}/?token={token}")          # default_url: the landing notebook
    landing = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(landing.locator(".jp-RenderedMarkdown h1")).to_contain_text("Start here", timeout=60_000)
    for name in ("transfer_learning", "adversarial_cat", "pets_lab"):
        expect(landing.locator(".jp-RenderedMarkdown").get_by_text(name, exact=True)).to_be_visible()
    shot(page, "landing")

    # the student follows the landing page's link
    landing.get_by_role("link", name="TransferLearningPyTorch").click()
    nb = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(page.locator(".lm-TabBar-tab.jp-mod-current")).to_contain_text("TransferLearningPyTorch.ipynb")
    expect(nb.locator(".jp-RenderedMarkdown h1").first).to_contain_text("Transfer learning")
    # on the course kernel, started and idle
    expect(nb.locator(".jp-KernelName")).to_have_text(COURSE_KERNEL_DISPLAY, timeout=60_000)
    expect(nb.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=KERNEL_S * 1000)

    # Validate on the untouched notebook: nbgrader runs it, the report summarises
    lines = validate_report(page, nb, "validate")
    assert any(line.startswith("\u2717 ") and "(test_ex_b_compute_features, 3 points)" in line
               for line in lines), lines

    # run the first cells as a student does: select the first cell, Shift+Enter through them
    cells = run_first_cells(page, nb)
    # a knowledge check refuses an answer of the wrong kind at once, in one line
    answer = nb.locator(".jp-Notebook .jp-Cell").nth(6)
    expect(answer).to_contain_text("q1_trainable = None")
    answer.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.type('q1_trainable = "many"')
    page.keyboard.press("Shift+Enter")          # the answer, then its visible check
    page.keyboard.press("Shift+Enter")
    refusal = nb.locator(".jp-Notebook .jp-Cell").nth(7).locator(".jp-OutputArea-output")
    expect(refusal).to_contain_text("q1_trainable = 'many': give a number", timeout=KERNEL_S * 1000)
    assert len([x for x in refusal.inner_text().splitlines() if x.strip()]) == 1, refusal.inner_text()
    assert "Traceback" not in refusal.inner_text() and "tlcourse/" not in refusal.inner_text()
    shot(page, "knowledge-check-refusal")
    # past the knowledge check (the refusal stopped the queue) to section 1: the data and its plots
    nb.locator(".jp-MarkdownCell", has_text="1. The data").first.click()
    page.keyboard.press("Escape")
    for _ in range(5):                          # heading, data, counts, scan report, a plot
        page.keyboard.press("Shift+Enter")
        time.sleep(0.2)
    outputs = nb.locator(".jp-OutputArea-output")
    expect(outputs.filter(has_text=re.compile(r"profile smoke:"))).to_have_count(1, timeout=KERNEL_S * 1000)
    image = nb.locator(".jp-OutputArea-output img").first
    expect(image).to_be_visible(timeout=KERNEL_S * 1000)
    expect(nb.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=KERNEL_S * 1000)
    assert not nb.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] "
                          ":text('Traceback')").count()
    assert image.evaluate("img => img.naturalWidth") > 100
    # the picture a student sees: the banner at the top, the first plot below it
    banner = outputs.filter(has_text=re.compile(r"profile smoke:"))
    banner.evaluate("e => { e.scrollIntoView({block: 'start'});"
                    " const s = e.closest('.jp-WindowedPanel-outer'); if (s) s.scrollTop -= 90; }")
    shot(page, "student-notebook")


def test_student_view_shows_their_work_and_no_instructor_tools(page, server):
    from playwright.sync_api import expect

    url, token = server
    page.goto(f"{url}/?token={token}")
    landing = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(landing.locator(".jp-RenderedMarkdown h1")).to_contain_text("Start here", timeout=60_000)
    assert_student_view(page, url, token, "student-view")


def test_opening_the_landing_page_and_a_notebook_changes_no_tracked_file(page, server, course):
    """Issue 29: JupyterLab's autosave wrote the kernel's language details into the tracked
    START_HERE.ipynb.  Both pages are opened with their kernels and left open until
    autosave (every AUTOSAVE_S s here) has written them: it writes the student's copies."""
    from playwright.sync_api import expect

    url, token = server
    page.goto(f"{url}/?token={token}")
    landing = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(landing.locator(".jp-RenderedMarkdown h1")).to_contain_text("Start here", timeout=60_000)
    expect(landing.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=KERNEL_S * 1000)
    landing.get_by_role("link", name="OxfordPetsTF").click()
    nb = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(page.locator(".lm-TabBar-tab.jp-mod-current")).to_contain_text("OxfordPetsTF.ipynb")
    expect(nb.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=KERNEL_S * 1000)
    assert_autosave_wrote_only_the_students_copies(
        course, [course / lab.WORK / lab.LANDING, course / lab.WORK / "pets_lab" / "OxfordPetsTF.ipynb"])


def test_instructor_sees_the_course_and_the_assignments_in_formgrader(page, instructor_server):
    from playwright.sync_api import expect

    url, token = instructor_server
    page.goto(f"{url}/?token={token}")          # default_url: the landing copy in my-work/
    landing = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(landing.locator(".jp-RenderedMarkdown h1")).to_contain_text("Start here", timeout=60_000)
    expect(page.locator(".lm-TabBar-tab.jp-mod-current")).to_contain_text(lab.LANDING)
    page.locator(".jp-BreadCrumbs-home").click()   # the file browser opened in my-work/: go up
    listing = page.locator(".jp-DirListing-content .jp-DirListing-itemText")
    expect(listing.filter(has_text="source")).to_have_count(1, timeout=60_000)
    assert {"source", "notebooks", "release", lab.WORK} <= set(listing.all_inner_texts())
    expect(page.locator(".lm-MenuBar-itemLabel").filter(has_text="Nbgrader")).to_have_count(1)
    expect(page.locator(".lm-TabBar-tab", has_text="Create Assignment")).to_have_count(1)
    shot(page, "instructor-view")

    page.goto(f"{url}/formgrader?token={token}")
    expect(page.get_by_role("heading", name="Manage Assignments")).to_be_visible()
    # the course-local exchange (nbgrader_config.py) is there: Release and Collect are usable
    expect(page.get_by_text("does not exist and could not be created")).to_have_count(0)
    rows = page.locator("#main-table td.name")
    for name in assignments():
        expect(rows.filter(has_text=name)).to_have_count(1, timeout=60_000)
    assert sorted(assignments()) == ["adversarial_cat", "pets_lab", "transfer_learning"]
    shot(page, "formgrader")


# ---------------------------------------------------------------- the Hindi edition

# Each letter in a box of its own at a whole-pixel position, in the rendered markdown's font.
GLYPH_PROBE_JS = """(el, letters) => {
  const d = document.createElement('div'); d.id = 'glyph-probe';
  d.style.cssText = 'position:relative;height:64px;font-size:40px;line-height:64px';
  letters.forEach((ch, i) => { const s = document.createElement('span'); s.textContent = ch;
    s.style.cssText = `position:absolute;top:0;left:${i * 64}px;width:64px;height:64px`;
    d.appendChild(s); });
  el.appendChild(d); }"""


def distinct_glyph_pictures(container, letters: list[str], name: str) -> int:
    """How many different pictures ``letters`` give, drawn inside ``container`` (screenshots,
    cropped to their ink): a font without them draws each as the same box."""
    from io import BytesIO
    from PIL import Image

    container.evaluate(GLYPH_PROBE_JS, letters)
    probe = container.locator("#glyph-probe")
    try:
        probe.screenshot(path=str(ARTIFACTS / f"{name}-glyphs.png"))
        pictures = set()
        for i in range(len(letters)):
            gray = Image.open(BytesIO(probe.locator("span").nth(i).screenshot())).convert("L")
            ink = gray.point(lambda v: 255 if v < 128 else 0)
            box = ink.getbbox()
            assert box, f"letter {letters[i]!r} drew no ink at all"
            crop = ink.crop(box)
            pictures.add((crop.size, crop.tobytes()))
    finally:
        container.evaluate("el => el.querySelector('#glyph-probe').remove()")
    return len(pictures)


def assert_devanagari_renders(container, text: str, name: str) -> None:
    letters = sorted({ch for ch in text if "\u0915" <= ch <= "\u0939"})[:8]   # consonants
    assert len(letters) >= 3, f"too few Devanagari letters in {text!r}"
    got = distinct_glyph_pictures(container, letters, name)
    assert got == len(letters), (
        f"Devanagari draws as boxes (tofu): {len(letters)} letters, {got} distinct picture(s) "
        f"(test-artifacts/browser/{name}-glyphs.png); install a Devanagari font: make system-deps")


def test_hindi_landing_page_and_notebook_show_devanagari(page, hindi_server, hindi_course):
    from playwright.sync_api import expect

    url, token = hindi_server
    page.goto(f"{url}/?token={token}")          # default_url: the Hindi landing notebook
    landing = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    title = landing.locator(".jp-RenderedMarkdown h1")
    expect(title).to_contain_text("यहाँ से शुरू करें", timeout=60_000)
    for name in ("transfer_learning", "adversarial_cat", "pets_lab"):
        expect(landing.locator(".jp-RenderedMarkdown").get_by_text(name, exact=True)).to_be_visible()
    shot(page, "hi-landing")
    assert_devanagari_renders(landing.locator(".jp-RenderedMarkdown").first, title.inner_text(),
                              "hi-landing")

    # the student follows the link to their own copy of the Hindi notebook
    landing.get_by_role("link", name="TransferLearningPyTorch").click()
    nb = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(page.locator(".lm-TabBar-tab.jp-mod-current")).to_contain_text("TransferLearningPyTorch.ipynb")
    heading = nb.locator(".jp-RenderedMarkdown h1").first
    expect(heading).to_contain_text("ट्रांसफर लर्निंग")
    expect(nb.locator(".jp-CodeCell").first).to_contain_text("PROFILE = None")   # code stays English
    expect(nb.locator(".jp-KernelName")).to_have_text(COURSE_KERNEL_DISPLAY, timeout=60_000)
    shot(page, "hi-notebook")
    assert_devanagari_renders(nb.locator(".jp-RenderedMarkdown").first, heading.inner_text(),
                              "hi-notebook")
    # Validate reports the same way, in Hindi; each failing check names its section
    lines = validate_report(page, nb, "hi-validate", lang="hi")
    assert re.search("[\u0900-\u097F]", lines[0]), lines[0]
    failing = [line for line in lines if line.startswith("\u2717 ")]
    assert failing and all(re.search("[\u0900-\u097F]", line) for line in failing), failing

    # the package speaks Hindi in the notebook: a multiple-choice prompt, a progress line
    cells = run_first_cells(page, nb)
    options = cells.nth(9)
    expect(options).to_contain_text("Q2_OPTIONS")
    options.click()
    page.keyboard.press("Escape")
    page.keyboard.press("Shift+Enter")
    printed = options.locator(".jp-OutputArea-output")
    expect(printed).to_contain_text("a) ", timeout=KERNEL_S * 1000)
    assert_devanagari_renders(printed, printed.inner_text(), "hi-quiz-options")
    page.keyboard.press("Escape")
    page.keyboard.press("b")                    # a cell of the student's own, below
    page.keyboard.press("Enter")
    page.keyboard.type('print(train.epoch_line(0, 2, {"loss": 0.6931, "accuracy": 0.5, '
                       '"val_loss": None, "seconds": 1.5}))')
    page.keyboard.press("Shift+Enter")
    progress = nb.locator(".jp-CodeCell", has_text="epoch_line").locator(".jp-OutputArea-output")
    expect(progress).to_contain_text("0.6931", timeout=KERNEL_S * 1000)
    assert re.search("[\u0900-\u097F]", progress.inner_text()), progress.inner_text()
    # the line has few letters ("एपॉक 1/2: ..."): the probe draws the prompt's in its place
    assert_devanagari_renders(progress, progress.inner_text() + printed.inner_text(),
                              "hi-progress-line")
    shot(page, "hi-package-output")
    # the same student view as in English, and autosave writes the student's copies only
    assert_student_view(page, url, token, "hi-student-view")
    assert_autosave_wrote_only_the_students_copies(
        hindi_course, [hindi_course / lab.WORK / lab.LANDING,
                       hindi_course / lab.WORK / "transfer_learning" / "TransferLearningPyTorch.ipynb"])


# ---------------------------------------------------------------- student output, instructor's view

PWNED = "__tlcourse_pwned"
STUDENT = "mallory"
# What a student adds to a correct notebook: a plot, and output and markdown that try to
# run script in whatever page shows them (the feedback HTML, the formgrader).
ATTACK_CODE = f"""\
import matplotlib.pyplot as plt
from IPython.display import HTML, Javascript, display
plt.plot([0, 1, 2], [0.2, 0.7, 0.9]); plt.show()
display(HTML('<script>window.{PWNED}=1</script>'))
display(HTML('<img src=x onerror="window.{PWNED}=2">'))
display(HTML('<a href="javascript:window.{PWNED}=3">pwn link</a>'))
display(Javascript('window.{PWNED}=4'))"""
TAMPERER = "trudy"
TAMPERING = "import builtins\nbuiltins.abs = lambda x: x"
ATTACK_MARKDOWN = (f'My answer.\n\n<script>window.{PWNED}=5</script>\n\n'
                   f'<img src=y onerror="window.{PWNED}=6">')


@pytest.fixture(scope="module")
def attacked_course(tmp_path_factory) -> Path:
    """The tiny assignment (tlcourse/course/tiny.py: seconds to grade) in a course with our
    nbgrader_config.py; its solution, with the cells above, handed in, autograded and
    given feedback as `tlcourse grade` does."""
    from tlcourse.course import grade as grading
    from tlcourse.course import tiny

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_factory.mktemp("attacked")
    tiny.write_source(tmp / "course")
    course = grading.make_course(ROOT, tmp / "course", [tiny.ASSIGNMENT])
    nb = tiny.notebook()
    nb.cells += [nbformat.v4.new_markdown_cell(ATTACK_MARKDOWN),
                 nbformat.v4.new_code_cell(ATTACK_CODE)]
    nbformat.write(nb, tmp / f"{tiny.NOTEBOOK}.ipynb")
    grading.submit(course, STUDENT, tiny.ASSIGNMENT, [tmp / f"{tiny.NOTEBOOK}.ipynb"])
    # and a classmate who tampers with the machinery before the tests (test_tampering.py)
    nb = tiny.notebook()
    nb.cells.insert(2, nbformat.v4.new_code_cell(TAMPERING))
    (tmp / TAMPERER).mkdir()
    nbformat.write(nb, tmp / TAMPERER / f"{tiny.NOTEBOOK}.ipynb")
    grading.submit(course, TAMPERER, tiny.ASSIGNMENT, [tmp / TAMPERER / f"{tiny.NOTEBOOK}.ipynb"])
    for done in (grading.autograde(course, tiny.ASSIGNMENT),
                 grading.generate_feedback(course, tiny.ASSIGNMENT)):
        assert done.returncode == 0, done.stderr[-3000:]
    return course


@pytest.fixture(scope="module")
def formgrader(attacked_course, tmp_path_factory):
    yield from jupyterlab(attacked_course, tmp_path_factory, "formgrader-attacked",
                          role="instructor")


def prepare(page, allowed: str = "file:") -> None:
    """Requests elsewhere than ``allowed`` (MathJax, require.js from a CDN) fail at once;
    every write to window.__tlcourse_pwned is recorded, so a failure names what ran."""
    page.route(lambda u: not u.startswith(allowed), lambda route: route.abort())
    page.add_init_script(f"Object.defineProperty(window, '{PWNED}', {{get() {{}},"
                         f" set(v) {{ (window.__ran = window.__ran || []).push(v); }}}});")


def assert_student_script_did_not_run(page, name: str) -> None:
    from playwright.sync_api import expect

    plot = page.locator(".output_png img").first
    expect(plot).to_be_visible()
    page.locator(".output_html a", has_text="pwn link").click()   # a javascript: link runs now
    page.wait_for_timeout(500)
    shot(page, name)
    ran = page.evaluate("() => window.__ran || []")
    assert ran == [], f"the student's scripts ran: {ran}"
    assert plot.evaluate("img => img.complete && img.naturalWidth") > 0, "the plot did not load"
    # what was refused is shown as text: the instructor sees what the student tried
    shown = page.locator(".output_html", has_text=f"<script>window.{PWNED}=1</script>")
    expect(shown).to_be_visible()


def test_feedback_page_runs_no_student_script(page, attacked_course):
    from tlcourse.course import grade as grading
    from tlcourse.course import tiny

    [feedback] = grading.feedback_files(attacked_course, tiny.ASSIGNMENT, STUDENT)
    prepare(page)
    page.goto(feedback.as_uri())
    assert_student_script_did_not_run(page, "feedback-attacked")


def test_formgrader_submission_page_runs_no_student_script(page, attacked_course, formgrader):
    from nbgrader.api import Gradebook

    from tlcourse.course import gradebook, tiny

    url, token = formgrader
    with Gradebook(gradebook.url(attacked_course)) as gb:
        submission = gb.find_submission_notebook(tiny.NOTEBOOK, tiny.ASSIGNMENT, STUDENT).id
    prepare(page, url)
    page.goto(f"{url}/formgrader/submissions/{submission}?token={token}")
    assert_student_script_did_not_run(page, "formgrader-attacked")


def test_formgrader_lists_a_tampered_submission_for_manual_grading_and_says_why(
        page, attacked_course, formgrader):
    """What tlcourse.course.tampering records is what the instructor meets in formgrader:
    its API (behind the Manual Grading list) says the tampered submission needs manual
    grading and the honest one does not, and the submission's page shows the reason
    under the test cells it scored 0."""
    import json

    from nbgrader.api import Gradebook
    from playwright.sync_api import expect

    from tlcourse.course import gradebook, tiny

    url, token = formgrader
    with Gradebook(gradebook.url(attacked_course)) as gb:
        ids = {s: gb.find_submission_notebook(tiny.NOTEBOOK, tiny.ASSIGNMENT, s).id
               for s in (STUDENT, TAMPERER)}
    request = urllib.request.Request(
        f"{url}/formgrader/api/submitted_notebooks/{tiny.ASSIGNMENT}/{tiny.NOTEBOOK}",
        headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        listed = {row["id"]: row["needs_manual_grade"] for row in json.load(response)}
    assert listed == {ids[TAMPERER]: True, ids[STUDENT]: False}, listed
    prepare(page, url)       # CDN requests fail at once instead of holding the page's scripts
    page.goto(f"{url}/formgrader/submissions/{ids[TAMPERER]}?token={token}")
    expect(page.get_by_text("TamperingDetected").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("builtins.abs was replaced").first).to_be_visible()
    shot(page, "formgrader-tampered-submission")

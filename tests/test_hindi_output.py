"""The Hindi edition's notebooks print the package's words in Hindi (issue 32).

Each Hindi solution notebook (editions/hi/notebooks/) runs in the smoke profile where it
lives (its course root says ``tlcourse_language = "hi"``), with a first cell that records
every write to stdout/stderr whose nearest caller outside the standard library, tqdm and IPython is
the package (a ``print`` in tlcourse, a progress bar it drives, a multiple-choice prompt;
installed again before each cell, as the kernel may give each cell its own streams):
what the package says, not what the notebook's own code prints.  No such line may hold an
English sentence: a run of 4 or more Latin-script words outside code, names (the datasets'
class names) and numbers.
The same check, run on the English notebook's recorder, finds English sentences: it can fail.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from course import ROOT

pytestmark = pytest.mark.slow
EDITION = ROOT / "editions" / "hi"
NOTEBOOKS = sorted((EDITION / "notebooks").glob("*/*.ipynb"))
CELL_TIMEOUT = 900

# Installed as the notebook's first cell: package writes are appended to LOG as JSON lines.
RECORDER = """\
import json as _json, os as _os, sys as _sys, sysconfig as _sysconfig
import tlcourse as _tlcourse
_PACKAGE = _os.path.dirname(_os.path.abspath(_tlcourse.__file__))
_STDLIB = _os.path.abspath(_sysconfig.get_paths()["stdlib"])

class _Recorder:
    def __init__(self, stream):
        self._stream = stream
    def __getattr__(self, name):
        return getattr(self._stream, name)
    def write(self, text):
        frame = _sys._getframe(1)
        while frame is not None:
            path = _os.path.abspath(frame.f_code.co_filename)
            if not (path.startswith(_STDLIB) or frame.f_code is _WRITE
                    or any(f"/{lib}/" in path for lib in ("tqdm", "IPython", "ipykernel"))):
                break
            frame = frame.f_back
        if frame is not None and _os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
            with open(LOG, "a", encoding="utf-8") as _f:
                _f.write(_json.dumps(text) + "\\n")
        return self._stream.write(text)

_WRITE = _Recorder.write.__code__

def _install(*_):     # the kernel may give each cell its streams afresh
    if not isinstance(_sys.stdout, _Recorder):
        _sys.stdout = _Recorder(_sys.stdout)
    if not isinstance(_sys.stderr, _Recorder):
        _sys.stderr = _Recorder(_sys.stderr)

_install()
get_ipython().events.register("pre_run_cell", _install)
"""
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def _class_names() -> re.Pattern:
    """The datasets' class names (Pets breeds as the package shows them, ImageNet's): names,
    not sentences, in every edition."""
    from tlcourse import imagenet, standin

    names = {b.replace("_", " ") for b in standin.PET_BREEDS} | set(imagenet.class_names())
    return re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)
                               if " " in n), re.IGNORECASE)


NAMES = _class_names()
_CODE = re.compile(r"`[^`]*`|https?://\S+|\S*[/\\]\S*")   # code spans, URLs, paths


def english_sentences(text: str) -> list[str]:
    """Runs of 4+ Latin-script words in ``text``; a word is letters only (so identifiers
    with _ . digits, paths and code spans are not words)."""
    found = []
    for line in _ANSI.sub("\n", text).splitlines():
        run = []
        for token in _CODE.sub(" ", NAMES.sub("NAME", line)).split() + [""]:
            word = token.strip(",;:.!?()[]{}'\"\u2014-")
            if word.isascii() and word.isalpha() and word == token.strip(",;:.!?()'\"\u2014"):
                run.append(word)
                continue
            if len(run) >= 4:
                found.append(" ".join(run))
            run = []
    return found


def package_output(notebook: Path, log: Path) -> list[str]:
    """Run ``notebook`` where it lives with the recorder; what the package wrote."""
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(f"LOG = {str(log)!r}\n" + RECORDER))
    NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] \
        if log.exists() else []


def test_the_sentence_finder_finds_english_and_passes_hindi():
    assert english_sentences("epoch 1/2: loss 0.69, the base must be frozen") == \
        ["the base must be frozen"]
    assert english_sentences("युग 1/2: हानि 0.69 (`tlcourse fetch cats_dogs` run it)") == []
    assert english_sentences("mobilenet_v2 efficientnet_lite0 at 160 px") == []
    assert english_sentences("नस्ल: American Pit Bull Terrier, Great White Shark") == []
    assert english_sentences("\x1b[31mnot answered yet answer it\x1b[0m") == ["not answered yet answer it"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_hindi_notebook_prints_the_package_in_hindi(notebook, tmp_path):
    written = package_output(notebook, tmp_path / "package-output.jsonl")
    assert written, f"{notebook.name}: the recorder saw nothing the package printed"
    english = sorted({s for text in written for s in english_sentences(text)})
    assert not english, (f"{notebook.relative_to(ROOT)}: the package printed English: {english[:15]} "
                         "(mark it with tlcourse.messages._ and translate it in "
                         "tlcourse/locale/hi/tlcourse.po)")
    assert any(re.search("[\u0900-\u097F]", text) for text in written), "no Devanagari at all"


def test_the_recorder_sees_english_in_the_english_edition(tmp_path):
    """The same recorder on an English notebook finds English sentences: the check can fail."""
    notebook = ROOT / "notebooks" / "pets_lab" / "OxfordPetsPyTorch.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    nb.cells = nb.cells[:6] + [nbformat.v4.new_code_cell(   # the set-up, an unanswered question
        "from tlcourse import quiz\nquiz.answered(None, 'q1_mistakes')")]
    short = tmp_path / notebook.name  # outside any course: English
    nbformat.write(nb, short)
    written = package_output(short, tmp_path / "package-output.jsonl")
    assert any(english_sentences(text) for text in written), written[:5]

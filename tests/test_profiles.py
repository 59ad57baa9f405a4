"""Profiles: what `auto` picks and why, the laptop profile's subset, the course's grading profile.

Offline: the GPU is faked (a folder standing for /proc/driver/nvidia/gpus, a
fake nvidia-smi), and the "real" datasets are the stand-ins written where the
real downloads go, in a private cache.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from tlcourse import datasets, profiles, standin
from tlcourse.profiles import get_profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_gpu(monkeypatch, tmp_path):
    """No driver folder and no nvidia-smi on PATH."""
    monkeypatch.setattr(profiles, "NVIDIA_PROC", tmp_path / "no-driver")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("TLCOURSE_PROFILE", raising=False)


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("TLCOURSE_CACHE", str(cache))
    return cache


def place_standin_as_real(name: str) -> Path:
    """The stand-in of ``name`` written where the real, extracted download lives."""
    dest = datasets.dataset_root(name, standin_data=False)
    return standin.write_into(dest, datasets.standin_writer(name))


@pytest.fixture(scope="module")
def real_layout_cache(tmp_path_factory):
    """A cache whose 'real' datasets are stand-ins (written once for the module)."""
    cache = tmp_path_factory.mktemp("real-layout")
    old = os.environ.get("TLCOURSE_CACHE")
    os.environ["TLCOURSE_CACHE"] = str(cache)
    try:
        for name in profiles.LAPTOP_DATASETS:
            place_standin_as_real(name)
        yield cache
    finally:
        if old is None:
            os.environ.pop("TLCOURSE_CACHE")
        else:
            os.environ["TLCOURSE_CACHE"] = old


# ---------------------------------------------------------------------------
# auto: GPU -> full; real data cached -> laptop; else smoke; one line says why
# ---------------------------------------------------------------------------
def test_auto_is_the_default_and_picks_smoke_on_a_bare_cpu_machine(no_gpu, empty_cache, capsys):
    profiles._said.clear()
    assert profiles.DEFAULT == "auto"
    assert get_profile().name == "smoke"
    line = capsys.readouterr().out.strip()
    assert line.startswith("profile smoke (auto: no GPU found;")
    assert "tlcourse fetch cats_dogs oxford_pets" in line
    get_profile()
    assert capsys.readouterr().out == "", "the choice is said once per process, not at every call"


def test_auto_picks_full_where_the_driver_shows_a_gpu(no_gpu, empty_cache, tmp_path, monkeypatch,
                                                      capsys):
    gpus = tmp_path / "gpus"
    (gpus / "0000:01:00.0").mkdir(parents=True)
    monkeypatch.setattr(profiles, "NVIDIA_PROC", gpus)
    profiles._said.clear()
    assert get_profile("auto").name == "full"
    assert f"an NVIDIA GPU is present ({gpus})" in capsys.readouterr().out
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")      # hidden from both frameworks
    assert get_profile("auto").name == "smoke"


def test_auto_asks_nvidia_smi_when_the_driver_folder_is_not_there(no_gpu, empty_cache, tmp_path,
                                                                  monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-0)'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert profiles.gpu_present() == (True, "an NVIDIA GPU is present (nvidia-smi -L)")
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert profiles.gpu_present()[0] is False


def test_auto_picks_laptop_only_when_every_real_dataset_is_cached(no_gpu, empty_cache, capsys):
    datasets.dataset_root("cats_dogs").mkdir(parents=True)   # an extracted download
    assert profiles.choose_auto()[0] == "smoke"
    assert "not in the cache: the real oxford_pets" in profiles.choose_auto()[1]
    datasets.dataset_root("oxford_pets").mkdir(parents=True)
    profiles._said.clear()
    assert get_profile().name == "laptop"
    assert "are in the cache" in capsys.readouterr().out


def test_an_explicit_profile_wins_over_auto(no_gpu, empty_cache, monkeypatch):
    monkeypatch.setenv("TLCOURSE_PROFILE", "full")
    assert get_profile().name == "full"
    assert get_profile("laptop").name == "laptop"
    with pytest.raises(ValueError, match="'tiny'.*smoke, full, laptop or auto"):
        get_profile("tiny")


# ---------------------------------------------------------------------------
# laptop: the real data, a fixed stratified subset, the light models
# ---------------------------------------------------------------------------
def test_laptop_uses_the_real_location_light_models_and_a_capped_subset(real_layout_cache):
    lap = get_profile("laptop")
    assert lap.data == "real" and lap.images_per_class is not None
    assert {lap.base_model, lap.light_model, lap.pets_base_model} <= {"mobilenet_v2",
                                                                     "efficientnet_lite0"}
    cap = 7   # the stand-in is smaller than the laptop's cap: make the cap bite
    data = datasets.cats_dogs(get_profile("laptop", images_per_class=cap), progress=False)
    assert Path(data.train.root) == datasets.dataset_root("cats_dogs"), \
        "laptop reads the real download's folder"
    assert data.standin, "a stand-in put where the download goes still says stand-in"
    for split in data:
        assert np.bincount(split.labels).tolist() == [cap, cap], split.name   # stratified
    again = datasets.cats_dogs(get_profile("laptop", images_per_class=cap), progress=False)
    assert again.train.paths == data.train.paths, "the subset is the same on every run"
    uncapped = datasets.cats_dogs(get_profile("laptop", images_per_class=None), progress=False)
    assert set(data.train.paths) < set(uncapped.train.paths)


def test_laptop_subset_of_pets_keeps_every_breed(real_layout_cache):
    data = datasets.oxford_pets(get_profile("laptop", pets_images_per_class=2), progress=False)
    counts = np.bincount(data.train.labels, minlength=37)
    assert len(counts) == 37 and counts.min() >= 1 and counts.max() <= 2


def test_laptop_work_fits_about_ten_minutes_a_notebook():
    """Images through the base in transfer_learning on the real Cats vs Dogs (12,500
    a class; train/val are 70/15 %), at the ~25 ms an image (160 px, decoding
    included) measured on 2 cores: under ten minutes, more than two.  Section 9's
    small CNN sees 64 px images: counted at a quarter of that (an assumption: the
    JPEG decoding, not the tiny network, then dominates)."""
    lap = get_profile("laptop")
    train = val = 2 * min(lap.images_per_class, round(0.15 * 12_500))
    study_train = 2 * 10 + 2 * 50 + train                   # section 9: 10, 50, all a class
    passes = (train + val                                   # features (cached for the training set)
              + (lap.epochs_head + lap.epochs_finetune) * (train + val)   # frozen base, fine-tuning
              + val                                         # section 7: the test split, once
              + 2 * (train + val)                           # section 8: both models' features
              + lap.epochs_finetune * study_train + 3 * val                # section 9: fine-tuning
              + (10 * study_train + 3 * val) / 4)           # section 9: the small CNN, 10 epochs
    assert 120 < passes * 0.025 < 600, f"{passes} images: about {passes * 0.025 / 60:.1f} min"
    assert lap.image_size < get_profile("full").image_size


# ---------------------------------------------------------------------------
# grading: one course setting, never the grading machine's guess
# ---------------------------------------------------------------------------
def make_course(tmp_path: Path, setting: str | None) -> Path:
    course = tmp_path / "course"
    folder = course / "autograded" / "alice" / "transfer_learning"
    folder.mkdir(parents=True)
    text = "c = get_config()\n"
    if setting is not None:
        text += f"tlcourse_grading_profile = {setting!r}\n"
    (course / "nbgrader_config.py").write_text(text)
    return folder


def test_grading_uses_the_course_setting_whatever_the_notebook_or_machine_says(
        no_gpu, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(make_course(tmp_path, "laptop"))     # nbgrader runs a notebook in its folder
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("TLCOURSE_PROFILE", "smoke")
    profiles._said.clear()
    prof = get_profile("smoke")                              # a student's PROFILE = "smoke"
    assert prof.name == "laptop" and prof.grading
    assert "the notebook asked for smoke" in capsys.readouterr().out
    assert profiles.grading_profile()[1].endswith("course/nbgrader_config.py")


@pytest.mark.parametrize("setting, message", [(None, "has no `tlcourse_grading_profile"),
                                              ("auto", "not a profile"),
                                              ("huge", "not a profile")])
def test_grading_without_a_valid_setting_says_how_to_fix_it(tmp_path, monkeypatch, setting,
                                                            message):
    monkeypatch.chdir(make_course(tmp_path, setting))
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    with pytest.raises(ValueError, match=message):
        get_profile()


def test_grading_outside_a_course_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(ValueError, match="run nbgrader in the course"):
        get_profile()


def test_this_course_sets_its_grading_profile():
    name, source = profiles.grading_profile(ROOT)
    assert name in profiles.PROFILES and str(ROOT / "nbgrader_config.py") in source

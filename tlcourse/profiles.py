"""Run profiles: one switch, ``TLCOURSE_PROFILE=auto|smoke|laptop|full`` (default ``auto``).

``smoke`` runs every notebook offline on 2 CPU cores in minutes, on stand-in
data with real offline weights.  ``laptop`` is a CPU laptop with internet: the
real datasets (downloaded and verified once), a fixed, stratified subset of
them, and the light models, sized for about ten minutes a notebook on 2 cores.
``full`` uses all of the real data and the lesson's models and is meant for
GPU runners with internet.  ``auto`` picks ``full`` where an NVIDIA GPU is
present, else ``laptop`` where the real datasets are already in the cache,
else ``smoke``, and prints one line saying which and why.  The GPU is found
without importing a framework (``/proc/driver/nvidia``, ``nvidia-smi``).

Grading is not guessed from the machine: while nbgrader executes a notebook
(``NBGRADER_EXECUTION`` set), the profile is the course's setting
``tlcourse_grading_profile = "..."`` in its ``nbgrader_config.py`` (found from
the working directory upwards: nbgrader runs each notebook in its folder
inside the course), whatever the notebook's ``PROFILE`` or the environment
says.

This module is the only place that reads the switch.  Notebooks call
``get_profile(PROFILE)`` in their ``parameters`` cell, so papermill (or a
student) can override the profile or single sizes.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tlcourse.settings import COURSE_CONFIG, course_setting, find_course_root
from tlcourse.messages import _

ENV_VAR = "TLCOURSE_PROFILE"
DEFAULT = "auto"
AUTO = "auto"
GRADING_KEY = "tlcourse_grading_profile"      # the course setting in it
NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")   # one folder per GPU the driver sees


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    # "standin" = generated data with the real on-disk layout; "real" = the download
    data: str
    base_model: str          # the lesson's model for transfer learning
    light_model: str         # the lighter model compared against it
    image_size: int
    batch_size: int
    images_per_class: int | None   # cap per class and split (None = all)
    epochs_head: int         # frozen base, new head
    epochs_finetune: int
    lr_head: float
    lr_finetune: float
    ideal_image_steps: int   # gradient steps for an "ideal class" image
    attack_steps: int        # projected steps of the targeted attack (BIM)
    pets_epochs_head: int
    pets_epochs_finetune: int
    pets_min_top1: float     # accuracy the graded Pets lab must clear
    num_workers: int
    # True while nbgrader executes the notebook (validate/autograde): demo-only
    # work is skipped and epochs shrink, so a class can be graded quickly.
    grading: bool = False
    # transfer_learning: epochs of the classifier trained on cached features,
    # and how many top blocks of the base fine-tuning unfreezes
    epochs_features: int = 30
    finetune_blocks: int = 2
    # Oxford-IIIT Pet lab (pets_lab): the base it fine-tunes (a modern one: the
    # 90% top-1 target in full needs more than VGG-16), its input size, and
    # the per-cell time limit when a class is autograded (`tlcourse grade`).
    pets_base_model: str = "resnet50"
    pets_image_size: int = 224
    grading_cell_timeout: int = 1800
    # the lab's cap per breed and split (None = all): on a CPU every epoch passes every
    # training image through the frozen base, and augmentation rules out caching features
    pets_images_per_class: int | None = None

    @property
    def on_standin(self) -> bool:
        return self.data == "standin"


PROFILES = {
    "smoke": Profile(
        name="smoke", data="standin", base_model="mobilenet_v2",
        light_model="efficientnet_lite0", image_size=160, batch_size=16,
        images_per_class=None, epochs_head=2, epochs_finetune=1,
        lr_head=1e-3, lr_finetune=1e-4, ideal_image_steps=128, attack_steps=20,
        # Pets head: the student's own loop trains it through the frozen base (no feature
        # cache), about 5 s an epoch here, and the grader trains it once more for the
        # accuracy test, so 8 epochs.  On the stand-in's 37 synthetic breeds (8 training
        # images each) the solutions' own pipelines reached top-1 0.41 (PyTorch) and 0.30
        # (Keras) after 8 epochs (chance 0.027); the graded bar is 0.20
        pets_epochs_head=8, pets_epochs_finetune=1,
        pets_min_top1=0.20, num_workers=0,
        # the cell limit leaves room for the grader's own training on a loaded 2-core runner
        pets_base_model="mobilenet_v2", pets_image_size=96, grading_cell_timeout=180,
    ),
    "full": Profile(
        name="full", data="real", base_model="vgg16",
        light_model="mobilenet_v2", image_size=224, batch_size=64,
        images_per_class=None, epochs_head=5, epochs_finetune=3,
        lr_head=1e-3, lr_finetune=1e-5, ideal_image_steps=512, attack_steps=40,
        pets_epochs_head=5, pets_epochs_finetune=3,
        pets_min_top1=0.90, num_workers=4, epochs_features=20, finetune_blocks=1,
    ),
    # A CPU laptop with internet: the real photos, capped at 400 per class and split (a
    # seeded, stratified subset: the same files on every machine), and the light models.
    # Measured on 2 cores with real-sized stand-ins (`tlcourse bench notebooks --profile
    # laptop`, benchmarks/LAPTOP.md): about 30-50 ms an image through MobileNetV2 at 160
    # px, decoding included.  Cats vs Dogs passes about 1,600 images through the base for
    # features and about 2,000 for each training epoch.  The Pets lab trains its head
    # through the frozen base with augmentation (no feature cache) and the grader trains
    # it again, so it reads 40 images a breed per split at 128 px for 3 epochs.  Accuracy
    # targets are unmeasured until someone runs it on the real data.
    "laptop": Profile(
        name="laptop", data="real", base_model="mobilenet_v2",
        light_model="efficientnet_lite0", image_size=160, batch_size=32,
        images_per_class=400, epochs_head=2, epochs_finetune=1,
        lr_head=1e-3, lr_finetune=1e-4, ideal_image_steps=256, attack_steps=20,
        pets_epochs_head=3, pets_epochs_finetune=1,
        pets_min_top1=0.60, num_workers=2, epochs_features=30, finetune_blocks=2,
        pets_base_model="mobilenet_v2", pets_image_size=128, grading_cell_timeout=600,
        pets_images_per_class=40,
    ),
}
# the real datasets a laptop run needs: `auto` picks laptop only when all are cached
LAPTOP_DATASETS = ("cats_dogs", "oxford_pets")


def gpu_present() -> tuple[bool, str]:
    """(whether an NVIDIA GPU is visible, how that was found), without importing a framework.

    ``CUDA_VISIBLE_DEVICES`` set to nothing or ``-1`` hides every GPU from both
    frameworks; otherwise the driver's ``/proc/driver/nvidia/gpus`` or ``nvidia-smi -L``."""
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1"):
        return False, _("CUDA_VISIBLE_DEVICES={hidden} hides the GPUs", hidden=repr(hidden))
    if NVIDIA_PROC.is_dir() and any(NVIDIA_PROC.iterdir()):
        return True, _("an NVIDIA GPU is present ({how})", how=NVIDIA_PROC)
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            out = None
        if out is not None and out.returncode == 0 and "GPU" in out.stdout:
            return True, _("an NVIDIA GPU is present ({how})", how="nvidia-smi -L")
    return False, _("no GPU found")


def real_data_cached() -> tuple[bool, str]:
    """(whether every dataset a laptop run needs is extracted in the cache, which are missing)."""
    from tlcourse.catalog import dataset_folder

    missing = [n for n in LAPTOP_DATASETS if not dataset_folder(n).is_dir()]
    if missing:
        return False, _("not in the cache: the real {datasets} (`tlcourse fetch {names}` "
                        "downloads them)", datasets=", ".join(missing), names=" ".join(missing))
    return True, _("the real {datasets} are in the cache", datasets=", ".join(LAPTOP_DATASETS))


def choose_auto() -> tuple[str, str]:
    """The profile ``auto`` stands for on this machine, and why."""
    gpu, why_gpu = gpu_present()
    if gpu:
        return "full", why_gpu
    cached, why_data = real_data_cached()
    return ("laptop" if cached else "smoke"), f"{why_gpu}; {why_data}"


def grading_profile(course_root: Path | None = None) -> tuple[str, str]:
    """(the profile the course is graded in, where that was read): the line
    ``tlcourse_grading_profile = "..."`` of the course's ``nbgrader_config.py``
    (read, not executed: it only runs inside nbgrader)."""
    root = find_course_root() if course_root is None else Path(course_root)
    if root is None:
        raise ValueError(f"grading reads {GRADING_KEY} from the course's {COURSE_CONFIG}, and "
                         f"there is none at or above {Path.cwd()}: run nbgrader in the course.")
    path = root / COURSE_CONFIG
    name = course_setting(root, GRADING_KEY)
    if name is None:
        raise ValueError(f"{path} has no `{GRADING_KEY} = \"smoke\"` line (or laptop, full): "
                         "add one; it says which profile this course is graded in.")
    if name not in PROFILES:
        raise ValueError(f"{path}: {GRADING_KEY} = {name!r} is not a profile; use one of "
                         f"{', '.join(PROFILES)} (not auto: grades must not depend on the "
                         "grading machine).")
    return name, f"{GRADING_KEY} in {path}"


_said = set()   # the lines already printed: say once per process, not at every call


def _say_once(line: str) -> None:
    if line not in _said:
        _said.add(line)
        print(line, file=sys.stdout)


def nbgrader_executing() -> bool:
    """Whether nbgrader executes this notebook (autograde or Validate: ``NBGRADER_EXECUTION``)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def profile_name(name: str | None = None) -> str:
    """The profile in force.  While grading: the course's ``grading_profile``.
    Otherwise the argument, else $TLCOURSE_PROFILE, else auto (resolved here)."""
    if nbgrader_executing():
        graded, source = grading_profile()
        if name and name != graded:
            _say_once(_("profile {graded} (grading: {source}; the notebook asked for {name})",
                        graded=graded, source=source, name=name))
        return graded
    name = name or os.environ.get(ENV_VAR) or DEFAULT
    if name == AUTO:
        chosen, why = choose_auto()
        _say_once(_("profile {chosen} (auto: {why}; set {variable} or PROFILE to choose)",
                    chosen=chosen, why=why, variable=ENV_VAR))
        return chosen
    if name not in PROFILES:
        raise ValueError(
            f"Unknown profile {name!r} (from ${ENV_VAR} or the notebook's "
            f"parameters cell). Use one of: {', '.join(PROFILES)} or {AUTO}.")
    return name


def get_profile(name: str | None = None, **overrides) -> Profile:
    """The sizes for a profile, with single fields overridden by keyword."""
    prof = PROFILES[profile_name(name)]
    if nbgrader_executing():
        overrides.setdefault("grading", True)
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Profile)}
    if unknown:
        raise TypeError(f"Unknown profile fields: {sorted(unknown)}")
    return dataclasses.replace(prof, **overrides)

"""Run profiles: one switch, ``TLCOURSE_PROFILE=smoke|full`` (default ``full``).

``smoke`` runs every notebook offline on 2 CPU cores in minutes, on stand-in
data with real offline weights.  ``full`` uses the real datasets and the
lesson's models and is meant for GPU runners with internet.

This module is the only place that reads the switch.  Notebooks call
``get_profile(PROFILE)`` in their ``parameters`` cell, so papermill (or a
student) can override the profile or single sizes.
"""
from __future__ import annotations

import dataclasses
import os

ENV_VAR = "TLCOURSE_PROFILE"
DEFAULT = "full"


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
    attack_steps: int        # PGD steps
    pets_epochs_scratch: int
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

    @property
    def on_standin(self) -> bool:
        return self.data == "standin"


PROFILES = {
    "smoke": Profile(
        name="smoke", data="standin", base_model="mobilenet_v2",
        light_model="efficientnet_lite0", image_size=160, batch_size=16,
        images_per_class=None, epochs_head=2, epochs_finetune=1,
        lr_head=1e-3, lr_finetune=1e-4, ideal_image_steps=128, attack_steps=20,
        # Pets head: 15 epochs on cached features take seconds.  The stand-in's 37
        # synthetic breeds (6 training images each) gave a correct solution top-1
        # 0.30-0.38 (torch 0.34, TF 0.30 after fine-tuning; chance 0.027, an untrained
        # head ~0.03), so the graded bar is 0.20
        pets_epochs_scratch=1, pets_epochs_head=15, pets_epochs_finetune=1,
        pets_min_top1=0.20, num_workers=0,
        pets_base_model="mobilenet_v2", pets_image_size=96, grading_cell_timeout=120,
    ),
    "full": Profile(
        name="full", data="real", base_model="vgg16",
        light_model="mobilenet_v2", image_size=224, batch_size=64,
        images_per_class=None, epochs_head=5, epochs_finetune=3,
        lr_head=1e-3, lr_finetune=1e-5, ideal_image_steps=512, attack_steps=40,
        pets_epochs_scratch=3, pets_epochs_head=5, pets_epochs_finetune=3,
        pets_min_top1=0.90, num_workers=4, epochs_features=20, finetune_blocks=1,
    ),
}


def profile_name(name: str | None = None) -> str:
    """The profile in force: the argument, else $TLCOURSE_PROFILE, else full."""
    name = name or os.environ.get(ENV_VAR) or DEFAULT
    if name not in PROFILES:
        raise ValueError(
            f"Unknown profile {name!r} (from ${ENV_VAR} or the notebook's "
            f"parameters cell). Use one of: {', '.join(PROFILES)}.")
    return name


def get_profile(name: str | None = None, **overrides) -> Profile:
    """The sizes for a profile, with single fields overridden by keyword."""
    prof = PROFILES[profile_name(name)]
    grading = bool(os.environ.get("NBGRADER_EXECUTION"))
    if grading:
        overrides.setdefault("grading", True)
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Profile)}
    if unknown:
        raise TypeError(f"Unknown profile fields: {sorted(unknown)}")
    return dataclasses.replace(prof, **overrides)

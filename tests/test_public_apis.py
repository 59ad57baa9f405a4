"""The package uses what TensorFlow, Keras, torch and torchvision document, nothing private.

A private attribute (``._x``) or ``tensorflow.python`` breaks on the next release,
and students read this code (docs/DESIGN: "Public framework APIs only").  The
check is static: every .py file of ``tlcourse/`` is parsed with ``ast``.  Which
names a module binds to a framework comes from its imports (``import
tensorflow as tf``, ``from torch import nn``, ``from keras import layers``,
``from torch.utils.data import Subset``: each of them).  It fails on

- an import of ``tensorflow.python``, ``keras.src`` or of a framework module
  with a private part (``torch._dynamo``), or of a private name from one;
- an attribute chain rooted at a framework name with a private link
  (``nn.modules.batchnorm._BatchNorm``, ``tf.Variable._trainable``) or through
  ``tensorflow.python`` / ``keras.src`` (``tf.python.eager``);
- on any object, the private names the package once took from framework
  objects (``v._trainable``, ``model._flatten_layers()``, ...), as attributes
  or as ``getattr``/``setattr``/``hasattr`` strings: what a framework object
  the code got from a call is cannot be told statically, these names can;
- a private name imported from an adapter package (``tlcourse.tf``,
  ``tlcourse.torch``) into a module outside it (``_port_builder``).

The self-tests at the end prove that each kind is caught.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tlcourse"
FRAMEWORKS = ("tensorflow", "keras", "torch", "torchvision", "tf_keras")
PRIVATE_MODULES = ("tensorflow.python", "keras.src")
# private names the package once read or wrote on framework objects it got from calls
KNOWN_PRIVATE = {"_trainable", "_flatten_layers", "_compiled_trainable_state", "_learning_rate",
                 "_images", "_labels", "_segs", "_port_builder", "_BatchNorm", "_NormBase",
                 "_ConvNd", "_LRScheduler", "_DataLoaderIter", "_keras_mask", "_keras_history",
                 "_trainable_variables", "_layers", "_tracker", "_loss_tracker", "_compile_config",
                 "_call_has_training_arg", "_compute_loss", "_distribution_strategy",
                 "_modules", "_parameters", "_buffers", "_version", "_get_name", "_C",
                 "_dynamo", "_inductor", "_functorch", "_ops", "_jit_internal",
                 "_RESOURCES", "_base_folder", "_images_folder", "_anns_folder"}
ADAPTERS = ("tlcourse.tf", "tlcourse.torch")
# Known and not this test's to fix: {(file relative to tlcourse/, what): why}.  Each entry
# must still be found (the last test): remove it when the code is fixed.
KNOWN_EXCEPTIONS: dict = {}


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def is_framework(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] in FRAMEWORKS


def private_module(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PRIVATE_MODULES) \
        or (is_framework(module) and any(is_private(part) for part in module.split(".")))


def chain(node: ast.AST) -> tuple[str, list[str]] | None:
    """``a.b.c`` -> ("a", ["b", "c"]); None when not rooted at a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return (node.id, parts[::-1]) if isinstance(node, ast.Name) else None


@dataclass(frozen=True)
class Finding:
    line: int
    what: str
    why: str


def framework_names(tree: ast.AST) -> dict[str, str]:
    """Names the module binds to framework modules or objects -> their dotted origin."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_framework(alias.name):
                    if alias.asname:
                        names[alias.asname] = alias.name
                    else:
                        names[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and is_framework(node.module):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def module_name(path: Path) -> str:
    """``tlcourse/tf/models.py`` -> "tlcourse.tf.models"."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def scan(source: str, module: str = "tlcourse.example") -> list[Finding]:
    """Every use of a private framework name in the source of ``module``."""
    tree = ast.parse(source)
    aliases = framework_names(tree)
    # an attribute chain is checked once, at its outermost node (which holds it all)
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    found = []

    def add(node, what, why):
        found.append(Finding(getattr(node, "lineno", 0), what, why))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if private_module(alias.name):
                    add(node, f"import {alias.name}", "a private framework module")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if private_module(node.module):
                add(node, f"from {node.module} import ...", "a private framework module")
            for alias in node.names:
                if not is_private(alias.name):
                    continue
                if is_framework(node.module):
                    add(node, f"from {node.module} import {alias.name}", "a private framework name")
                elif alias.name in KNOWN_PRIVATE:
                    add(node, f"from {node.module} import {alias.name}", "a known private name")
                for adapter in ADAPTERS:
                    if inside(node.module, adapter) and not inside(module, adapter):
                        add(node, f"from {node.module} import {alias.name}",
                            f"a private name of {adapter} imported from outside it")
        elif isinstance(node, ast.Attribute):
            rooted = chain(node)
            if rooted is None or rooted[0] not in aliases:
                if node.attr in KNOWN_PRIVATE:    # on any object, anywhere in a chain
                    add(node, f".{node.attr}", "a known private framework attribute")
            elif id(node) not in inner:           # a framework chain, checked whole once
                root, parts = rooted
                text = ".".join([root, *parts])
                if any(is_private(p) for p in parts):
                    add(node, text, f"a private attribute of {aliases[root]}")
                elif private_module(".".join([aliases[root], *parts])):
                    add(node, text, "a private framework module")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "setattr", "hasattr", "delattr") \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str) and is_private(node.args[1].value):
            name = node.args[1].value
            target = chain(node.args[0])
            if name in KNOWN_PRIVATE:
                add(node, f"{node.func.id}(..., {name!r})", "a known private framework attribute")
            elif target and target[0] in aliases:
                add(node, f"{node.func.id}({target[0]}, {name!r})",
                    f"a private attribute of {aliases[target[0]]}")
    return found


def package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def package_findings() -> dict[tuple[str, str], str]:
    out = {}
    for path in package_files():
        rel = path.relative_to(PACKAGE).as_posix()
        for f in scan(path.read_text(encoding="utf-8"), module_name(path)):
            out[(rel, f.what)] = f"{rel}:{f.line}: {f.what} ({f.why})"
    return out


def test_the_package_uses_public_framework_apis_only():
    assert len(package_files()) > 40, "the scan found the package's files"
    found = {key: text for key, text in package_findings().items() if key not in KNOWN_EXCEPTIONS}
    assert not found, "private framework APIs:\n" + "\n".join(sorted(found.values()))


def test_each_known_exception_is_still_there():
    found = package_findings()
    gone = [key for key in KNOWN_EXCEPTIONS if key not in found]
    assert not gone, f"fixed, remove from KNOWN_EXCEPTIONS: {gone}"


# --------------------------------------------------------------------------
# self-tests: each kind of private use is caught, public code is not
# --------------------------------------------------------------------------
CAUGHT = {
    "tensorflow.python import": "from tensorflow.python.eager import record\n",
    "tensorflow.python module import": "import tensorflow.python.eager.record\n",
    "tf.python attribute": "import tensorflow as tf\nx = tf.python.eager\n",
    "keras.src import": "from keras.src.trainers import trainer\n",
    "keras.src attribute": "import keras\nx = keras.src.layers\n",
    "private torch module": "from torch._dynamo import optimize\n",
    "private torch module import": "import torch._C as C\n",
    "private framework name": "from torch.nn.modules.batchnorm import _BatchNorm\n",
    "private attribute of a module alias": "import tensorflow as tf\ntf.Variable._trainable\n",
    "deep private attribute": "from torch import nn\nisinstance(m, nn.modules.batchnorm._BatchNorm)\n",
    "private attribute of an imported class":
        "from torchvision.datasets import OxfordIIITPet\nOxfordIIITPet._RESOURCES\n",
    "private attribute of keras alias": "import keras as K\nK.backend._x\n",
    "private attribute of torch": "import torch\ntorch._C._get_tracing_state()\n",
    "_trainable on a variable": "def f(v):\n    v._trainable = False\n",
    "_flatten_layers": "def f(model):\n    return list(model._flatten_layers())\n",
    "_compiled_trainable_state via getattr":
        "def f(model):\n    return getattr(model, '_compiled_trainable_state', None)\n",
    "_learning_rate": "def f(optimizer):\n    return optimizer._learning_rate\n",
    "_learning_rate via getattr": "def f(o):\n    return getattr(o, '_learning_rate', None)\n",
    "_images": "def f(ds):\n    return [p for p in ds._images]\n",
    "a known name inside a chain": "def f(ds):\n    return ds._images.copy()\n",
    "a known name on a call's result": "def f(m):\n    return m.get()._flatten_layers()\n",
    "getattr on a module alias": "import torch\ngetattr(torch, '_C')\n",
    "_port_builder across packages": "from tlcourse.tf.models import _port_builder\n",
    "_port_builder known name": "from tlcourse.ports.elsewhere import _port_builder\n",
}

PUBLIC = """\
import keras
import tensorflow as tf
import torch
from torch import nn


class Thing:
    def __init__(self):
        self._cache = {}              # our own private attribute

    def run(self, model, x):
        self._cache[id(model)] = tf.function(lambda t: model(t, training=False))
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            y = model(x)
        return tape.gradient(y, x), tf.__version__, torch.__version__


def layers(m):
    return [b for b in m.modules() if isinstance(b, (nn.BatchNorm1d, nn.BatchNorm2d))]


def helper(obj):
    return obj._something_of_ours, keras.ops.softmax
"""


@pytest.mark.parametrize("kind", sorted(CAUGHT))
def test_the_check_catches(kind):
    module = "tlcourse.ports.convert" if "across" in kind else "tlcourse.example"
    assert scan(CAUGHT[kind], module), f"not caught: {kind}"


def test_the_check_passes_public_code():
    assert scan(PUBLIC) == []
    # a private name of an adapter, inside the adapter itself, is the adapter's own business
    assert scan("from tlcourse.tf.models import _helper\n", "tlcourse.tf.train") == []

"""The adapter contract: ``tlcourse.torch`` and ``tlcourse.tf`` export exactly the
names ``tlcourse.contract`` declares, with the same signatures, and behave alike.

Names and signatures are read in one process per framework (JSON).  The
behaviour suite runs each test against both adapters in this process: conftest
imports torch first, and TensorFlow after torch is safe (the reverse is not).
"""
import ast
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tlcourse import adversarial as core_adversarial
from tlcourse import assets, contract, datasets, imagenet, photos
from tlcourse.preprocess import Preprocess, get_preprocess, pixels_array
from tlcourse.profiles import get_profile

from course import ROOT

# --------------------------------------------------------------------------
# names and signatures, one framework per process
# --------------------------------------------------------------------------
DESCRIBE = """
import inspect, json, sys, types
from tlcourse import contract
fw = sys.argv[1]
m = contract.adapter(fw)

def describe(obj):
    # names, kinds and defaults; annotations name each framework's types
    if callable(obj):
        return [(p.name, str(p.kind), repr(p.default))
                for p in inspect.signature(obj).parameters.values()]
    return type(obj).__name__

print(json.dumps({
    "all": list(m.__all__),
    "public": sorted(n for n, o in vars(m).items()
                     if not n.startswith("_") and not isinstance(o, types.ModuleType)),
    "submodules": sorted(n for n, o in vars(m).items()
                         if isinstance(o, types.ModuleType) and o.__name__ == f"{m.__name__}.{n}"),
    "FRAMEWORK": m.FRAMEWORK,
    "api": {n: describe(getattr(m, n)) for n in m.__all__
            if n != "FRAMEWORK" and n not in contract.SUBMODULES},
    "submodule_api": {s: {"all": list(getattr(m, s).__all__),
                          "api": {n: describe(getattr(getattr(m, s), n))
                                  for n in getattr(m, s).__all__}}
                      for s in contract.SUBMODULES},
}))
"""
_DESCRIPTIONS = {}


def description(framework: str) -> dict:
    if framework not in _DESCRIPTIONS:
        proc = subprocess.run([sys.executable, "-c", DESCRIBE, framework],
                              capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-3000:]
        _DESCRIPTIONS[framework] = json.loads(proc.stdout.strip().splitlines()[-1])
    return _DESCRIPTIONS[framework]


@pytest.mark.parametrize("framework", contract.FRAMEWORKS)
def test_adapter_exports_exactly_the_declared_names(framework):
    d = description(framework)
    declared = set(contract.public_names())
    assert len(d["all"]) == len(declared) and set(d["all"]) == declared
    non_modules = declared - set(contract.SUBMODULES)
    assert set(d["public"]) == non_modules, (
        f"undeclared: {sorted(set(d['public']) - non_modules)}; "
        f"missing: {sorted(non_modules - set(d['public']))}")
    assert set(contract.SUBMODULES) <= set(d["submodules"])
    assert d["FRAMEWORK"] == framework
    for sub, names in contract.SUBMODULES.items():
        assert sorted(d["submodule_api"][sub]["all"]) == sorted(names), sub


def test_adapters_have_the_same_signatures_and_submodules():
    a, b = description("torch"), description("tf")
    assert a["submodules"] == b["submodules"]
    differ = {n: (a["api"][n], b["api"][n]) for n in a["api"] if a["api"][n] != b["api"][n]}
    assert not differ, f"signatures differ (torch, tf): {differ}"
    for sub in contract.SUBMODULES:
        sa, sb = a["submodule_api"][sub]["api"], b["submodule_api"][sub]["api"]
        differ = {n: (sa[n], sb[n]) for n in sa if sa[n] != sb[n]}
        assert not differ, f"{sub}: signatures differ (torch, tf): {differ}"


def adapter_imports(framework: str) -> dict[str, set[str]]:
    """{module of the adapter: the names its __init__.py imports from it}, read as text."""
    tree = ast.parse((ROOT / "tlcourse" / framework / "__init__.py").read_text())
    imports = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"tlcourse.{framework}"):
            module = node.module.removeprefix(f"tlcourse.{framework}").lstrip(".")
            for alias in node.names:
                key = (module, alias.name) if module else (alias.name, None)
                imports.setdefault(key[0], set()).add(key[1])
    return imports


@pytest.mark.parametrize("framework", contract.FRAMEWORKS)
def test_adapter_init_imports_exactly_the_contract(framework):
    """The adapter's names are plain imports (editors see them); they are PUBLIC_API's."""
    found = adapter_imports(framework)
    want = {part: set(names) for part, names in contract.PUBLIC_API.items()}
    want.update({sub: {None} for sub in contract.SUBMODULES})
    assert found == want, f"tlcourse/{framework}/__init__.py imports {found}, the contract says {want}"


@pytest.mark.parametrize("framework", contract.FRAMEWORKS)
def test_static_completion_lists_every_contract_name(framework, tmp_path):
    """jedi only parses files: what it completes after `tlc.` is what an editor offers."""
    import jedi
    code = f"from tlcourse import {framework} as tlc\ntlc."
    project = jedi.Project(ROOT, added_sys_path=[str(ROOT)], smart_sys_path=False)
    names = {c.name for c in jedi.Script(code, path=tmp_path / "nb.py", project=project)
             .complete(2, 4)}
    missing = sorted(set(contract.public_names()) - names)
    assert not missing, f"static completion of tlc. misses {missing}"


def test_unknown_framework_is_a_clear_error():
    with pytest.raises(ValueError, match="'jax'"):
        contract.adapter("jax")


def test_loader_defaults():
    split = datasets.Split("demo", "test", ("a",) * 5, (0,) * 5, ("x",), True, "/nowhere")
    smoke = get_profile("smoke")
    assert contract.loader_defaults(split, True, None, None, None, smoke) == \
        (smoke, smoke.batch_size, True, False)
    assert contract.loader_defaults(split, False, 3, True, False, "smoke")[1:] == (3, True, False)
    big = dataclasses.replace(split, paths=("a",) * contract.CACHE_BELOW,
                              labels=(0,) * contract.CACHE_BELOW)
    assert contract.loader_defaults(split, False, None, None, None, smoke)[3] is True
    assert contract.loader_defaults(big, False, None, None, None, smoke)[3] is False


# --------------------------------------------------------------------------
# behaviour: the same inputs give the same kinds of outputs and errors
# --------------------------------------------------------------------------
CHANNELS_FIRST = {"torch": True, "tf": False}
_MODELS = {}


@pytest.fixture(params=contract.FRAMEWORKS)
def tlc(request):
    return contract.adapter(request.param)


def mobilenet(tlc, include_top=True):
    """``tlc.pretrained("mobilenet_v2")``, built once per framework and kind."""
    key = (tlc.FRAMEWORK, include_top)
    if key not in _MODELS:
        _MODELS[key] = tlc.pretrained("mobilenet_v2", include_top=include_top)
    return _MODELS[key]


def as_nhwc(tlc, batch) -> np.ndarray:
    a = np.asarray(batch)
    return a.transpose(0, 2, 3, 1) if CHANNELS_FIRST[tlc.FRAMEWORK] else a


def test_pretrained_returns_model_and_preprocess(tlc):
    model, prep = mobilenet(tlc)
    assert isinstance(prep, Preprocess) and prep == get_preprocess("mobilenet_v2")
    base, _ = mobilenet(tlc, include_top=False)
    features = np.asarray(base(tlc.to_batch(prep, photos.chelsea())))
    assert features.shape == (1, tlc.feature_dim("mobilenet_v2"))


def test_to_batch_gives_the_frameworks_layout_and_the_reference_values(tlc):
    _, prep = mobilenet(tlc)
    batch = tlc.to_batch(prep, photos.chelsea())
    want_shape = (1, 3, 224, 224) if CHANNELS_FIRST[tlc.FRAMEWORK] else (1, 224, 224, 3)
    assert tuple(batch.shape) == want_shape
    assert np.asarray(batch).dtype == np.float32
    reference = prep.normalize_array(pixels_array(prep, photos.chelsea()))
    np.testing.assert_allclose(as_nhwc(tlc, batch), reference, atol=1e-5)


def test_probabilities_sum_to_one_and_chelsea_is_a_cat(tlc):
    model, prep = mobilenet(tlc)
    probs = tlc.probabilities(model, tlc.to_batch(prep, photos.chelsea()))
    assert isinstance(probs, np.ndarray) and probs.shape == (1, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert int(probs.argmax()) in imagenet.DOMESTIC_CAT_CLASSES


def test_predict_topk_accepts_path_pil_array_and_ready_batch(tlc):
    model, prep = mobilenet(tlc)
    path = photos.chelsea()
    pil = Image.open(path).convert("RGB")
    kinds = {"path": path, "PIL image": pil, "uint8 HWC array": np.asarray(pil),
             "ready batch": tlc.to_batch(prep, path)}
    got = {kind: tlc.predict_topk(model, prep, images, k=3) for kind, images in kinds.items()}
    want = got["path"]
    assert len(want) == 1 and len(want[0]) == 3 and want[0][0][0] in imagenet.DOMESTIC_CAT_CLASSES
    for kind, topk in got.items():
        assert [i for i, *_ in topk[0]] == [i for i, *_ in want[0]], kind
        np.testing.assert_allclose([p for *_, p in topk[0]], [p for *_, p in want[0]],
                                   atol=1e-5, err_msg=kind)


def test_predict_topk_needs_the_classifier(tlc):
    base, prep = mobilenet(tlc, include_top=False)
    with pytest.raises(ValueError, match="include_top=True"):
        tlc.predict_topk(base, prep, photos.chelsea())


def test_unknown_model_name_is_a_value_error_naming_it(tlc):
    with pytest.raises(ValueError, match=r"Unknown model 'alexnet'; choose one of mobilenet_v2"):
        tlc.pretrained("alexnet")


def test_count_params_of_a_frozen_model(tlc):
    model, _ = mobilenet(tlc)
    # an independent count: weights and biases in the torch file, not BatchNorm's statistics
    state = torch.load(assets.fetch("mobilenet_v2_torch", progress=False), weights_only=True)
    total = sum(v.numel() for k, v in state.items()
                if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert tlc.count_params(model) == (0, total)
    trainable, _ = tlc.pretrained("mobilenet_v2", trainable=True)
    assert tlc.count_params(trainable) == (total, total)


@pytest.mark.parametrize("standin", [True, False])
def test_make_loader_marks_stand_in_data_and_fit_records_it(tlc, standin):
    split = dataclasses.replace(datasets.cats_dogs(get_profile("smoke"), progress=False).train.subset(2),
                                standin=standin)
    base, prep = mobilenet(tlc, include_top=False)
    loader = tlc.make_loader(split, prep, train=False, batch_size=4, num_workers=0)
    assert loader.standin is standin
    history = tlc.fit(tlc.with_new_head(base, len(split.class_names)), loader, epochs=1,
                      lr=1e-3, progress=False)
    assert history.standin is standin
    assert ("stand-in" in history.table()) is standin


def test_total_variation_agrees_with_the_numpy_reference(tlc):
    arrays = core_adversarial.tv_test_arrays()
    for name, image in arrays.items():
        got = float(tlc.total_variation(tlc.as_pixels(image)))
        assert got == pytest.approx(core_adversarial.total_variation_reference(image),
                                    rel=1e-5, abs=1e-6), name
    batch = np.stack([arrays["random"][:6, :5], arrays["wide_range"]])
    assert float(tlc.total_variation(tlc.as_pixels(batch))) == \
        pytest.approx(core_adversarial.total_variation_reference(batch), rel=1e-5)


@pytest.mark.parametrize("bad", ["four", "4/0", "-1/255", "300"])
def test_parse_eps_errors_name_the_value(tlc, bad):
    with pytest.raises(ValueError, match=f"epsilon '{bad}'"):
        tlc.parse_eps(bad)
    assert tlc.parse_eps("4/255") == pytest.approx(4 / 255)


def test_attacks_return_the_same_records(tlc):
    model, prep = mobilenet(tlc)
    dog = photos.dog_photos()[0][0]
    result = tlc.targeted_attack(model, prep, dog, "tabby", 0, steps=2)
    assert isinstance(result, tlc.AttackResult) and result.adversarial.shape == (224, 224, 3)
    assert not result.success and result.steps == 2 and result.linf == 0
    (named,) = tlc.attack_photos(model, prep, [dog], "tabby", ["0/255"], steps=1, progress=False)
    assert named.name == dog.name and named.steps == 1 and named.target == imagenet.TABBY


def test_grow_class_image_names_an_unknown_parameterisation(tlc):
    model, prep = mobilenet(tlc)
    with pytest.raises(ValueError, match="'noise' is not a parameterisation.*'pixels', 'fourier'"):
        tlc.grow_class_image(model, prep, imagenet.TABBY, image="noise", steps=1)

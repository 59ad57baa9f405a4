"""`tlcourse bench`: the one subprocess harness, the report writer, the suite's
failure handling, the models part's helper/bare comparison, and tiny real runs
of the scaling part and of benchmarks/gpu_check.sh.  (The full `make bench`
takes tens of minutes: it is run by hand, and its results are committed in
benchmarks/RESULTS.*.)"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from course import ROOT
from tlcourse.bench import harness, report
from tlcourse.bench import notebooks as notebooks_part
from tlcourse.bench import suite as bench_suite
from tlcourse.cli import main as cli_main
from tlcourse.contract import adapter

SECTION_TITLES = [report.TITLES[p] for p in report.PARTS]


# --------------------------------------------------------------------------
# the one harness: a function in a fresh Python, its JSON result or a BenchError
# --------------------------------------------------------------------------
CHILD_MODULE = textwrap.dedent("""
    import os, sys, time

    def ok(x):
        return {"pid": os.getpid(), "twice": 2 * x, "executable": sys.executable}

    def raises():
        print("child: about to fail", file=sys.stderr)
        raise LookupError("no such thing as item 42")

    def dies():
        print("child: dying hard", file=sys.stderr, flush=True)
        os._exit(3)

    def sleeps(seconds):
        print("child: sleeping", file=sys.stderr, flush=True)
        time.sleep(seconds)
""")


@pytest.fixture
def child_env(tmp_path):
    (tmp_path / "benchchild.py").write_text(CHILD_MODULE)
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path)


def test_harness_returns_the_childs_result(child_env):
    result = harness.call_in_subprocess("benchchild:ok", {"x": 21}, env=child_env)
    assert result["twice"] == 42
    assert result["pid"] != os.getpid() and result["executable"] == sys.executable


def test_harness_child_exception_is_a_bench_error_with_stderr_tail(child_env):
    with pytest.raises(harness.BenchError) as info:
        harness.call_in_subprocess("benchchild:raises", env=child_env)
    exc = info.value
    assert exc.error_type == "LookupError"
    assert "no such thing as item 42" in exc.summary
    assert "child: about to fail" in exc.stderr_tail and "Traceback" in exc.stderr_tail
    assert exc.stderr_tail in str(exc)


def test_harness_child_that_dies_or_hangs_is_a_bench_error(child_env):
    with pytest.raises(harness.BenchError) as info:
        harness.call_in_subprocess("benchchild:dies", env=child_env)
    assert "exit 3" in info.value.summary and info.value.error_type is None
    assert "child: dying hard" in info.value.stderr_tail
    with pytest.raises(harness.BenchError, match="timed out after 2 s"):
        harness.call_in_subprocess("benchchild:sleeps", {"seconds": 60}, env=child_env,
                                   timeout=2)
    with pytest.raises(harness.BenchError) as info:
        harness.call_in_subprocess("benchchild-without-function", env=child_env)
    assert info.value.error_type == "ValueError" and "module:function" in info.value.summary


def test_time_interleaved_alternates_and_times_every_call():
    calls = []
    times = harness.time_interleaved({"a": lambda: calls.append("a"),
                                      "b": lambda: calls.append("b")}, rounds=3, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    assert harness.throughput(32, [2.0, 1.0, 3.0]) == 16.0
    assert harness.paired_time_ratio([2.0, 4.0, 9.0], [1.0, 1.0, 3.0]) == 3.0


# --------------------------------------------------------------------------
# a small fake result set: every part, one of them failed
# --------------------------------------------------------------------------
def fake_parts() -> dict:
    return {
        "notebooks": {"status": "ok", "seconds": 300.0, "rows": [
            {"notebook": "transfer_learning/TransferLearningPyTorch.ipynb", "framework": "torch",
             "status": "ok", "wall_s": 120.0, "peak_mb": 900.0, "error": ""},
            {"notebook": "transfer_learning/TransferLearningTF.ipynb", "framework": "tf",
             "status": "ok", "wall_s": 150.0, "peak_mb": 1100.0, "error": ""}]},
        "models": {"status": "ok", "seconds": 60.0, "rows": [
            {"model": "mobilenet_v2", "framework": "torch", "weights": "offline",
             "params": 3504872, "images_per_s": 12.5, "bare_images_per_s": 12.0,
             "time_ratio": 0.96, "overhead_ok": "yes", "status": "ok"},
            {"model": "vgg16", "framework": "torch", "weights": "online", "status": "not cached"},
            {"model": "mobilenet_v2", "framework": "tf", "weights": "offline",
             "params": 3504872, "images_per_s": 8.25, "bare_images_per_s": 8.0,
             "time_ratio": 0.97, "overhead_ok": "yes", "status": "ok"}]},
        "data": {"status": "partial", "seconds": 50.0, "rows": [
            {"framework": "torch", "mode": "train (augment)", "workers": 2,
             "images_per_s": 84.0, "data": "stand-in data"},
            {"framework": "tf", "mode": "train", "workers": 0, "error": "Boom: tf.data broke"}]},
        "adversarial": {"status": "ok", "seconds": 40.0, "rows": [
            {"framework": "torch", "status": "ok",
             "ideal_cat": {"image": "pixels + TV 1.0", "steps": 64, "p_cat": 0.999,
                           "steps_to_target": 7, "p_cat_second": 0.01, "seconds": 12.0},
             "attack": [{"eps": "1/255", "photos": 2, "success_rate": 1.0, "mean_steps": 5.5,
                         "max_steps": 9, "mean_target_prob": 0.22}],
             "transfer": {"fooled": 0, "total": 8, "rate": 0.0}, "smallest_eps": "1/255"}]},
        "grading": {"status": "failed", "seconds": 3.0, "rows": [],
                    "error": "RuntimeError: nbgrader exploded"},
        "scaling": {"status": "ok", "seconds": 200.0, "rows": [
            {"framework": "torch", "images": 500, "status": "ok", "model_s": 0.5,
             "load_s": 1.0, "features_s": 9.0, "head_s": 1.0, "first_s": 11.0,
             "second_s": 0.5, "speedup": 22.0, "features_speedup": 300.0, "peak_mb": 800.0, "val_accuracy": 0.9},
            {"framework": "torch", "images": 2000, "status": "ok", "model_s": 0.5,
             "load_s": 2.0, "features_s": 36.0, "head_s": 2.0, "first_s": 40.0,
             "second_s": 5.0, "speedup": 8.0, "features_speedup": 100.0, "peak_mb": 850.0, "val_accuracy": 0.9}],
            "summary": {"image_size": 96, "epochs": 30, "growth": {"torch": {
                "n_ratio": 4.0, "time_ratio": 3.6, "exponent": 0.92, "ms_per_image_small": 22.0,
                "ms_per_image_large": 20.0, "peak_mb_small": 800.0, "peak_mb_large": 850.0}}}},
    }


def fake_results() -> dict:
    run_id, run = report.new_run("tlcourse bench (test)")
    return report.merge(report.empty_results(), run_id, report.finish_run(run), fake_parts())


def section(md: str, title: str) -> str:
    return md.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_report_has_every_section_and_shows_failures():
    md = report.render(fake_results())
    for title in ["Machine", "Summary", *SECTION_TITLES]:
        assert f"## {title}" in md, title
    grading = section(md, report.TITLES["grading"])
    assert "**FAILED**" in grading and "nbgrader exploded" in grading
    assert "PARTLY FAILED" in section(md, report.TITLES["data"])
    assert "Boom: tf.data broke" in section(md, report.TITLES["data"])
    assert "Status: ok" in section(md, report.TITLES["scaling"])
    assert "Failed or partly failed parts: data, grading" in md
    # the machine it ran on: CPU, cores, load average at start and end, versions, date
    machine = section(md, "Machine")
    for word in ("CPU:", "logical cores", "load average", "at the start", "at the end",
                 "torch", "Python"):
        assert word in machine, word
    # the figures themselves, and the cache speed-up flag below 10x
    assert "12.5" in section(md, report.TITLES["models"])
    scaling = section(md, report.TITLES["scaling"])
    assert "22.0×" in scaling and "8.0× **< 10×**" in scaling
    assert "Feature cache below target" in scaling


def test_summary_table_rows():
    rows = {r[0]: r[1:] for r in report.summary_rows(fake_results())}
    notebooks = next(v for k, v in rows.items() if k.startswith("smoke notebooks"))
    assert notebooks == ["120 s, peak 900 MB", "150 s, peak 1100 MB"]
    assert rows["MobileNetV2 forward, images/s (CPU, batch 32, 224 px)"] == ["12.5", "8.25"]
    assert rows["input pipeline, train (augment), images/s"] == ["84 (2 workers)", "**failed**"]
    assert rows["nbgrader autograde, s/submission"][0] == "**failed**"
    assert rows["second pass with cached features (whole pass)"][0] == \
        "8–22× faster (**< 10× at some sizes**); feature step 100× or more"
    assert rows["ideal cat on MobileNetV2"] == ["p = 0.999, ≥ 0.9 after 7 steps", "–"]


def test_report_write_is_atomic(tmp_path, monkeypatch):
    results = fake_results()
    json_path, md_path = report.write_report(results, tmp_path)
    assert json.loads(json_path.read_text()) == json.loads(json.dumps(results))
    assert md_path.read_text() == report.render(results)
    old_json, old_md = json_path.read_text(), md_path.read_text()

    # the disk fills up half-way through writing: the old files stay whole
    real_write = Path.write_text

    def half_then_fail(self, text, *a, **kw):
        real_write(self, text[: len(text) // 2], *a, **kw)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    changed = dict(results, generated="2099-01-01T00:00:00+00:00")
    with pytest.raises(OSError):
        report.write_report(changed, tmp_path)
    monkeypatch.undo()
    assert json_path.read_text() == old_json and md_path.read_text() == old_md
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RESULTS.json", "RESULTS.md"]


def test_merge_keeps_other_parts_and_says_which_run():
    first = fake_results()
    run_id, run = report.new_run("tlcourse bench models")
    run_id = "later-run"
    merged = report.merge(first, run_id, report.finish_run(run),
                          {"models": {"status": "failed", "error": "x", "rows": []}})
    assert merged["parts"]["models"]["run"] == "later-run"
    assert merged["parts"]["scaling"] == first["parts"]["scaling"]
    assert list(merged["parts"]) == list(report.PARTS)
    assert len(merged["runs"]) == 2
    assert "Parts come from different runs" in report.render(merged)
    # a run that no part refers to any more is dropped
    again = report.merge(merged, "third", report.finish_run(report.new_run("x")[1]),
                         {k: {"status": "ok", "rows": []} for k in report.PARTS})
    assert list(again["runs"]) == ["third"]


def test_readme_block_is_replaced_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n{report.README_START}\nold table\n"
                      f"{report.README_END}\nafter\n")
    assert report.update_readme(readme, fake_results())
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# Title\n\nbefore\n")
    assert text.endswith(f"{report.README_END}\nafter\n")
    assert report.summary_table(fake_results()) in text
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    assert not report.update_readme(plain, fake_results())
    assert plain.read_text() == "no markers\n"


def test_readme_shows_the_committed_results():
    results = report.read_results(ROOT / "benchmarks" / "RESULTS.json")
    assert results["parts"], "benchmarks/RESULTS.json is missing: run `make bench`"
    text = (ROOT / "README.md").read_text()
    assert report.README_START in text, "README lost its benchmark summary markers"
    assert report.summary_table(results) in text, \
        "README's benchmark table differs from benchmarks/RESULTS.json: run `make bench`"


# --------------------------------------------------------------------------
# the suite: a part that fails is reported, the others still run
# --------------------------------------------------------------------------
def test_suite_reports_a_failing_part_and_runs_the_rest(tmp_path, monkeypatch):
    calls = []

    def broken(opts):
        calls.append("models")
        raise RuntimeError("weights went missing")

    def fine(opts):
        calls.append("scaling")
        return fake_parts()["scaling"]

    monkeypatch.setitem(bench_suite.PART_FUNCS, "models", broken)
    monkeypatch.setitem(bench_suite.PART_FUNCS, "scaling", fine)
    opts = SimpleNamespace(profile="smoke", prepare=False)
    results = bench_suite.run(["models", "scaling"], opts, tmp_path, command="test")
    assert calls == ["models", "scaling"]
    assert results["parts"]["models"]["status"] == "failed"
    assert "weights went missing" in results["parts"]["models"]["error"]
    assert results["parts"]["scaling"]["status"] == "ok"
    md = (tmp_path / "RESULTS.md").read_text()
    assert "**FAILED**" in section(md, report.TITLES["models"])
    assert "weights went missing" in md
    saved = json.loads((tmp_path / "RESULTS.json").read_text())
    assert saved["parts"]["scaling"]["rows"][0]["speedup"] == 22.0
    assert saved["runs"][saved["parts"]["models"]["run"]]["load_end"] is not None


def test_unknown_part_or_model_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:     # argparse's one line, as for --model
        cli_main(["bench", "modles"])
    assert exit_.value.code == 2 and "unknown part 'modles'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli_main(["bench", "models", "--model", "alexnet"])
    assert exit_.value.code == 2 and "alexnet" in capsys.readouterr().err


# --------------------------------------------------------------------------
# tiny real runs
# --------------------------------------------------------------------------
def test_scaling_part_tiny_real_run(tmp_path):
    from tlcourse.bench import scaling as bench_scaling

    part = bench_scaling.measure_sizes(sizes=[30, 60], frameworks=["torch"], image_size=64,
                                       epochs=2, root=tmp_path, log=lambda m: None)
    assert part["status"] == "ok", part
    rows = part["rows"]
    assert [r["images"] for r in rows] == [30, 60]
    for r in rows:
        assert r["first_s"] > r["second_s"] > 0
        assert r["features_s"] > 0 and r["peak_mb"] > 100
        assert r["train"] + r["val"] < r["images"]          # 70/15/15, unreadable files left out
    assert rows[1]["train"] > rows[0]["train"]
    g = part["summary"]["growth"]["torch"]
    assert g["n_ratio"] == 2.0 and g["time_ratio"] > 0
    # the features were cached where the run said: one file per split, per size
    for n in (30, 60):
        assert len(list((tmp_path / f"n{n}" / "features").glob("*.npz"))) == 2
    md = report.render(report.merge(report.empty_results(), "r", {}, {"scaling": part}))
    assert "| PyTorch | 60 |" in section(md, report.TITLES["scaling"])


@pytest.mark.slow
def test_gpu_check_runs_end_to_end_at_tiny_size(tmp_path):
    """benchmarks/gpu_check.sh as a GPU runner would run it, at the tiny size on this CPU."""
    out = tmp_path / "gpu_check.json"
    # the full profile's two bases (for its estimates) and one offline model keep both
    # weight paths in the run; EfficientNet-Lite0 goes through the same code, so it is
    # left out to save a Keras trace per framework
    env = dict(os.environ, GPU_CHECK_SIZE="tiny", GPU_CHECK_DIR=str(tmp_path / "data"),
               GPU_CHECK_JSON=str(out), PYTHON=sys.executable,
               GPU_CHECK_MODELS="mobilenet_v2,vgg16,resnet50")
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    assert "TINY RUN" in text and "done in" in text
    for label in ("== PyTorch on", "== TensorFlow on", "random init: throughput only",
                  "ImageNet (offline)", "per epoch", "estimate, transfer_learning full profile",
                  "estimate, pets_lab full profile"):
        assert label in text, label
    results = json.loads(out.read_text())["results"]
    assert [r["framework"] for r in results] == ["torch", "tf"]
    for r in results:
        assert set(r["models"]) == {"mobilenet_v2", "vgg16", "resnet50"}
        for name, m in r["models"].items():
            assert m["inference_ips"] > 0 and m["train_ips"] > 0, (r["framework"], name, m)
        assert r["models"]["vgg16"]["weights"].startswith("random init")
        for name, d in r["datasets"].items():
            assert "error" not in d, (r["framework"], name, d)
            assert d["pipeline_ips"] > 0 and d["frozen_ips"] > 0 and d["finetune_ips"] > 0
            assert d["finetune_epoch_s"] == pytest.approx(d["train"] / d["finetune_ips"])
        assert set(r["estimates"]) == {"transfer_learning", "pets_lab"}
    # the stand-ins have the real layout, at the real resolution
    from PIL import Image
    cats = sorted((tmp_path / "data" / "datasets" / "standin" / "cats_vs_dogs" / "PetImages"
                   / "Cat").glob("*.jpg"))
    assert len(cats) == 20
    with Image.open(cats[0]) as im:
        assert max(im.size) == 500 and min(im.size) >= 333
    pets = tmp_path / "data" / "datasets" / "standin" / "oxford-iiit-pet"
    assert len(list((pets / "images").glob("*.jpg"))) == 74
    assert (pets / "annotations" / "trainval.txt").is_file()


def test_gpu_check_refuses_a_bad_setting(monkeypatch, capsys):
    from tlcourse.bench import gpu as bench_gpu

    for var, value in (("GPU_CHECK_SIZE", "huge"), ("GPU_CHECK_FRAMEWORKS", "torch,jax"),
                       ("GPU_CHECK_STEPS", "many")):
        with monkeypatch.context() as m:
            m.setenv(var, value)
            assert bench_gpu.main() == 2
        assert f"{var}='{value}'" in capsys.readouterr().err


# --------------------------------------------------------------------------
# the models part: helper path against the bare network
# --------------------------------------------------------------------------
def test_models_weights_status_and_not_cached_row(tmp_path, monkeypatch):
    from tlcourse.bench import models as bench_models

    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "cache" / "torch"))
    assert bench_models.weights_status("mobilenet_v2", "torch") == ("offline", True)
    assert bench_models.weights_status("vgg16", "tf") == ("online", False)
    row = bench_models.measure_row("tf", "vgg16", batch=2)     # nothing is downloaded
    assert row == {"model": "vgg16", "framework": "tf", "weights": "online",
                   "status": "not cached"}


def test_models_forward_throughput_torch_helper_and_bare_agree():
    import torch

    from tlcourse import assets, photos
    from tlcourse import torch as tlc
    from tlcourse.bench import models as bench_models

    result = bench_models.forward_throughput("torch", "mobilenet_v2", batch=2, budget_s=0.1)
    assert result["images_per_s"] > 0 and result["bare_images_per_s"] > 0
    assert result["time_ratio"] > 0 and result["aa_ratio"] > 0 and result["rounds"] >= 5
    model, prep = tlc.pretrained("mobilenet_v2")
    assert result["params"] == tlc.count_params(model)[1]
    # the bare network is the same network as the helper's
    plain = adapter("torch", "bench")
    bare = plain.plain_network("mobilenet_v2", assets.get("mobilenet_v2_torch").path)
    x = tlc.to_batch(prep, photos.chelsea())
    with torch.no_grad():
        torch.testing.assert_close(plain.plain_forward(bare, x), model(x))
    assert result["threads"] == plain.threads() and "compiled_images_per_s" not in result


def test_models_plain_reference_is_the_adapters_and_not_the_students():
    """The bench's framework code is the adapter's ``bench`` module, reached through
    ``contract.adapter``; ``tlc.`` and the contract do not offer it."""
    import tlcourse.torch.bench
    from tlcourse import contract
    from tlcourse import torch as tlc

    assert adapter("torch", "bench") is tlcourse.torch.bench
    assert adapter("torch") is tlc and "bench" not in tlc.__all__
    assert "bench" not in contract.PUBLIC_API and "bench" not in contract.SUBMODULES
    with pytest.raises(ValueError, match="'jax'"):
        adapter("jax", "bench")
    with pytest.raises(ValueError, match="module name"):
        adapter("torch", "../bench")


# --------------------------------------------------------------------------
# what a GPU runner fetches before the check and the full-profile notebooks
# --------------------------------------------------------------------------
def test_fetch_full_profile_names():
    from tlcourse.cli import fetch as fetchcmd

    names = fetchcmd.full_profile_names()
    for name in ("vgg16_torch", "vgg16_keras_notop", "resnet50_torch", "resnet50_keras",
                 "mobilenet_v2_keras", "cats_dogs", "oxford_pets"):
        assert name in names
    assert "cats_dogs_zip" not in names     # fetched and extracted as the dataset


def test_grading_part_shows_the_sandbox_and_its_cost():
    part = {"status": "ok", "seconds": 90.0,
            "rows": [{"student": "student1", "status": "ok", "score": 19, "max_score": 19,
                      "seconds": 38.0, "failed": []}],
            "summary": {"assignment": "pets_lab", "notebook": "OxfordPetsPyTorch", "copies": 1,
                        "setup_s": 4.0, "seconds_per_submission": 38.0, "first_s": 38.0,
                        "later_mean_s": None, "feature_cache": "empty", "all_full_marks": True,
                        "sandbox": "on", "sandbox_without_s": 36.0, "sandbox_with_s": 37.8,
                        "sandbox_ratio": 1.05}}
    text = report._grading(part)
    assert "(sandbox on)" in text
    assert "36.0 s without, 37.8 s with, **ratio 1.05**" in text


def run_notebooks_part(monkeypatch, tmp_path, root, found, fake_call, clock, rounds):
    """The notebooks part over the notebooks ``found`` under ``root``, each run by
    ``fake_call`` instead of a kernel, with ``clock[0]`` as the time."""
    from tlcourse.bench import notebooks
    from tlcourse.course import run as runner

    monkeypatch.setattr("tlcourse.course.build.repo_root", lambda: root)
    monkeypatch.setattr(runner, "find_notebooks", lambda root, selectors: list(found))
    monkeypatch.setattr(harness, "call_in_subprocess", fake_call)
    monkeypatch.setattr(harness, "scratch_cache", lambda dest, own: dest)
    monkeypatch.setattr(notebooks.time, "perf_counter", lambda: clock[0])
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))
    return notebooks.run(SimpleNamespace(frameworks=("torch", "tf"), profile="smoke",
                                         cell_timeout=60, rounds=rounds))


def test_notebooks_part_runs_twins_side_by_side_and_gives_their_ratios(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    found = [root / "notebooks" / a / f"{stem}.ipynb"          # all PyTorch first, as sorted
             for stem, a in [("AdversarialCatPyTorch", "adv"), ("PetsPyTorch", "pets"),
                             ("AdversarialCatTF", "adv"), ("PetsTF", "pets")]]
    # kernel CPU seconds and wall seconds each notebook takes; pets TF fails
    cpu = {"AdversarialCatPyTorch": 40.0, "AdversarialCatTF": 50.0, "PetsPyTorch": 10.0}
    wall = {"AdversarialCatPyTorch": 45.0, "AdversarialCatTF": 63.0, "PetsPyTorch": 12.0,
            "PetsTF": 5.0}
    order, clock = [], [0.0]

    def fake_call(target, kwargs, env, timeout):
        stem = Path(kwargs["notebook"]).stem
        order.append(stem)
        clock[0] += wall[stem]
        if stem not in cpu:
            raise harness.BenchError("kernel died")
        return {"peak_mb": 500.0, "cpu_s": cpu[stem]}

    part = run_notebooks_part(monkeypatch, tmp_path, root, found, fake_call, clock, rounds=1)

    assert order == ["AdversarialCatPyTorch", "AdversarialCatTF", "PetsPyTorch", "PetsTF"]
    assert part["status"] == "partial"
    assert [r["cpu_s"] for r in part["rows"]] == [40.0, 50.0, 10.0, None]
    # a twin that failed gives no ratio
    assert part["ratios"] == [{"assignment": "adv", "torch_wall_s": 45.0, "tf_wall_s": 63.0,
                               "wall_ratio": 1.4, "torch_cpu_s": 40.0, "tf_cpu_s": 50.0,
                               "cpu_ratio": 1.25}]
    table_note = part["notes"][-1]
    assert "| adv | 45 | 63 | 1.40 **> 1.3** | 40 | 50 | 1.25 |" in table_note
    assert "pets" not in table_note.split("\n\n", 1)[1]


def test_notebooks_part_rounds_swap_the_twins_and_keep_each_notebooks_fastest_run(
        tmp_path, monkeypatch):
    root = tmp_path / "repo"
    found = [root / "notebooks" / "adv" / f"{stem}.ipynb"
             for stem in ("AdversarialCatPyTorch", "AdversarialCatTF")]
    # (wall, cpu) of each run, in the order the runs happen: the machine slows down, then recovers
    times = iter([(50.0, 45.0), (80.0, 70.0), (60.0, 58.0), (70.0, 40.0)])
    order, clock = [], [0.0]

    def fake_call(target, kwargs, env, timeout):
        order.append(Path(kwargs["notebook"]).stem)
        wall, cpu = next(times)
        clock[0] += wall
        return {"peak_mb": 100.0 * len(order), "cpu_s": cpu}

    part = run_notebooks_part(monkeypatch, tmp_path, root, found, fake_call, clock, rounds=2)

    assert order == ["AdversarialCatPyTorch", "AdversarialCatTF",     # round 1
                     "AdversarialCatTF", "AdversarialCatPyTorch"]     # round 2, swapped
    torch_row, tf_row = part["rows"]
    assert (torch_row["wall_s"], torch_row["cpu_s"], torch_row["peak_mb"]) == (50.0, 40.0, 400.0)
    assert (tf_row["wall_s"], tf_row["cpu_s"], tf_row["peak_mb"]) == (60.0, 58.0, 300.0)
    assert [r["wall_s"] for r in torch_row["runs"]] == [50.0, 70.0]
    assert part["ratios"][0]["wall_ratio"] == pytest.approx(1.2)
    assert "2 rounds, the twins' order swapped" in part["notes"][0]


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_bench_rounds_must_be_a_whole_number_of_at_least_one(bad, capsys):
    with pytest.raises(SystemExit) as info:
        cli_main(["bench", "notebooks", "--rounds", bad])
    assert info.value.code == 2
    assert f"--rounds wants a whole number >= 1, not {bad!r}" in capsys.readouterr().err


def test_summary_table_gives_the_tf_over_torch_ratio_and_marks_it_above_goal():
    rows = [{"assignment": a, "framework": f, "status": "ok", "wall_s": w, "cpu_s": c}
            for a, f, w, c in [("adv", "torch", 50.0, 40.0), ("adv", "tf", 55.0, 50.0),
                               ("pets", "torch", 20.0, 16.0), ("pets", "tf", 30.0, 20.0)]]
    results = {"parts": {"notebooks": {"status": "ok", "rows": rows,
                                      "ratios": notebooks_part.ratios(rows)}}}
    table = {r[0]: r[1:] for r in report.summary_rows(results)}
    ratio = next(v for k, v in table.items() if "TF time / PyTorch" in k)
    assert ratio == ["1 (reference)", "adv 1.10 (1.25), **pets 1.50 (1.25)**"]


def test_summary_table_gives_the_transferable_ideal_images_and_marks_misses():
    cls = lambda name, med, secs: {"class": name, "median_second": med, "min_second": 0.5,
                                   "max_second": 0.99, "max_seconds": secs,
                                   "median_met": med >= 0.85, "time_met": secs <= 20}
    rows = [{"framework": "torch", "status": "ok", "ideal_cat": {}, "attack": [], "transfer": {},
             "ideal_transferable": [cls("cat", 0.663, 12.0), cls("zebra", 0.998, 21.5)]}]
    table = {r[0]: r[1:] for r in report.summary_rows({"parts": {"adversarial": {"rows": rows}}})}
    row = next(v for k, v in table.items() if k.startswith("ideal images (Fourier"))
    assert row == ["cat **0.663** (0.50–0.99), 12.0 s; zebra 0.998 (0.50–0.99), **21.5 s**", "–"]


# --------------------------------------------------------------------------
# the laptop profile (issue 31): seconds per section, --only, its own report section
# --------------------------------------------------------------------------
def timed_cell(start_s: float, seconds: float) -> dict:
    """A code cell with the times nbclient records, starting ``start_s`` into the run."""
    at = lambda s: f"2026-12-07T10:{int(s) // 60:02d}:{s % 60:06.3f}Z"
    return {"cell_type": "code", "source": "pass",
            "metadata": {"execution": {"iopub.status.busy": at(start_s),
                                       "iopub.execute_input": at(start_s + 0.01),
                                       "shell.execute_reply": at(start_s + seconds - 0.01),
                                       "iopub.status.idle": at(start_s + seconds)}}}


def md(text: str) -> dict:
    return {"cell_type": "markdown", "source": text}


def test_sections_group_cells_by_level_two_headings_into_kinds():
    nb = {"cells": [md("# The title\nintro"), timed_cell(0, 3.0),
                    md("## 1. The data: Cats vs Dogs"), timed_cell(3, 5.0), timed_cell(8, 1.5),
                    md("## 4. The pretrained network as a fixed feature extractor"),
                    timed_cell(10, 20.0),
                    md("### Exercise (b): compute the features"), timed_cell(30, 4.0),
                    md("## 5. The pretrained network as the frozen base of a new model"),
                    timed_cell(34, 40.0),
                    md("## 6. Fine-tuning"), timed_cell(74, 30.0),
                    md("## 7. What the fine-tuned model gets wrong"), timed_cell(104, 2.0),
                    {"cell_type": "code", "source": "never ran", "metadata": {}}]}
    got = notebooks_part.sections(nb)
    assert [h for h, _, _ in got] == ["(before the first section)", "1. The data: Cats vs Dogs",
                                      "4. The pretrained network as a fixed feature extractor",
                                      "5. The pretrained network as the frozen base of a new model",
                                      "6. Fine-tuning", "7. What the fine-tuned model gets wrong"]
    by_kind = notebooks_part.seconds_by_kind(got)
    assert by_kind == pytest.approx({"setup": 3.0, "data": 6.5, "features": 24.0,
                                     "training": 40.0, "fine-tuning": 30.0, "study": 2.0})


@pytest.mark.parametrize("assignment, kinds", [
    ("transfer_learning", {"setup", "data", "features", "training", "fine-tuning", "study"}),
    ("pets_lab", {"setup", "data", "features", "training", "fine-tuning", "study"}),
    ("adversarial_cat", {"setup", "study"})])
def test_every_solution_notebooks_headings_map_to_the_sections_they_are(assignment, kinds):
    for nb in sorted((ROOT / "notebooks" / assignment).glob("*.ipynb")):
        got = {kind for _, kind, _ in notebooks_part.sections(json.loads(nb.read_text()))}
        assert got == kinds, nb.name


def test_laptop_part_is_kept_beside_the_smoke_one_and_shown_by_section():
    assert report.part_key("notebooks", "smoke") == "notebooks"
    assert report.part_key("notebooks", "laptop") == "notebooks_laptop"
    assert report.part_key("models", "laptop") == "models"
    secs = lambda *xs: dict(zip(notebooks_part.KINDS, xs))
    rows = [{"notebook": "pets_lab/OxfordPetsPyTorch.ipynb", "assignment": "pets_lab",
             "framework": "torch", "profile": "laptop", "status": "ok", "wall_s": 400.0,
             "peak_mb": 2000.0, "sections": secs(5.0, 30.0, 20.0, 300.0, 40.0, 2.0)},
            {"notebook": "pets_lab/OxfordPetsTF.ipynb", "assignment": "pets_lab",
             "framework": "tf", "profile": "laptop", "status": "ok", "wall_s": 500.0,
             "peak_mb": 2500.0, "sections": secs(9.0, 35.0, 25.0, 380.0, 45.0, 3.0)}]
    smoke = {"status": "ok", "rows": [dict(rows[0], profile="smoke", wall_s=50.0)]}
    results = report.merge(report.empty_results(), "run1", {"command": "tlcourse bench"},
                           {"notebooks": smoke,
                            "notebooks_laptop": {"status": "ok", "rows": rows,
                                                 "data": "real-sized stand-ins"}})
    assert results["parts"]["notebooks"]["rows"][0]["wall_s"] == 50.0, "smoke kept"
    table = {r[0]: r[1:] for r in report.summary_rows(results)}
    assert table["laptop notebooks (1 + 1) on real-sized stand-ins: total wall, highest peak RSS"] \
        == ["400 s, peak 2000 MB", "500 s, peak 2500 MB"]
    page = report.render(results)
    assert "## Solution notebooks, laptop profile on real-sized stand-ins" in page
    assert "| section | pets_lab PyTorch | pets_lab TensorFlow |" in page
    assert "| training | 300 | 380 |" in page
    assert "| wall (kernel start included) | 400 | 500 |" in page


def test_bench_only_names_one_notebook_and_refuses_an_unknown_one(capsys):
    found = notebooks_part.select_notebooks(ROOT, ("torch", "tf"), ["pets_lab"])
    assert [nb.name for nb in found] == ["OxfordPetsPyTorch.ipynb", "OxfordPetsTF.ipynb"]
    found = notebooks_part.select_notebooks(ROOT, ("torch",), ["TransferLearningPyTorch"])
    assert [nb.name for nb in found] == ["TransferLearningPyTorch.ipynb"]
    assert cli_main(["bench", "notebooks", "--only", "pets_labb"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tlcourse bench: error: --only 'pets_labb' matches no solution notebook")
    assert len(err.splitlines()) == 1


def test_scratch_cache_links_own_folders_instead_of_the_users(tmp_path, monkeypatch):
    user = tmp_path / "user-cache"
    (user / "datasets" / "cats_vs_dogs").mkdir(parents=True)     # the user's real download
    (user / "photos").mkdir()
    monkeypatch.setenv("TLCOURSE_CACHE", str(user))
    scratch, standins = tmp_path / "scratch", tmp_path / "standins"
    (scratch).mkdir()
    (scratch / "datasets").symlink_to(user / "datasets")          # left by an older run
    harness.scratch_cache(scratch, own={"datasets": standins})
    assert (scratch / "datasets").resolve() == standins.resolve()
    assert (scratch / "photos").resolve() == (user / "photos").resolve()
    assert not any(standins.iterdir())

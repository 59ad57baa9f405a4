"""The core's ideal-image recipe (``adversarial.TRANSFERABLE``) transfers: what
grows on MobileNetV2 is recognised by EfficientNet-Lite0, a network it never saw.

Three cats and three zebras in PyTorch, in their own process (as ``tlcourse
bench adversarial`` grows them: ``bench.adversarial.transferable_images``),
about a minute on 2 idle cores.  The cat is the hard case: grown on log p
instead of the logit, its median over these seeds was 0.72."""
import pytest

from tlcourse.bench import adversarial as bench
from tlcourse.bench import harness

MIN_MEDIAN = 0.85


@pytest.mark.slow
def test_recipe_images_are_recognised_by_a_second_network():
    rows = harness.call_in_subprocess("tlcourse.bench.adversarial:transferable_images",
                                      dict(framework="torch", classes=["cat", "zebra"]),
                                      timeout=900)
    assert [row["class"] for row in rows] == ["cat", "zebra"]
    for row in rows:
        assert [r["seed"] for r in row["runs"]] == list(bench.SEEDS)
        assert row["median_first"] > 0.9, bench.transferable_lines([row])
        assert row["median_second"] >= MIN_MEDIAN, bench.transferable_lines([row])

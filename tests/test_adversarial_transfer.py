"""The core's ideal-image recipe (``adversarial.TRANSFERABLE``) transfers: what
grows on MobileNetV2 is recognised by EfficientNet-Lite0, a network it never saw.

Three 256-step zebras in PyTorch, in their own process (as ``tlcourse bench
adversarial`` grows them: ``bench.adversarial.transferable_images``), about a
minute on 2 idle cores."""
from tlcourse.bench import adversarial as bench
from tlcourse.bench import harness

CLASS = "zebra"     # PyTorch, seeds 0-2: 0.61 / 1.00 / 1.00 on EfficientNet-Lite0 when written
MIN_MEDIAN = 0.85


def test_recipe_images_are_recognised_by_a_second_network():
    (row,) = harness.call_in_subprocess("tlcourse.bench.adversarial:transferable_images",
                                        dict(framework="torch", classes=[CLASS]), timeout=900)
    assert [r["seed"] for r in row["runs"]] == list(bench.SEEDS)
    assert row["median_first"] > 0.9, bench.transferable_lines([row])
    assert row["median_second"] >= MIN_MEDIAN, bench.transferable_lines([row])

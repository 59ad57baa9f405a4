"""The PyTorch half of `tlcourse bench models` (see ``tlcourse.bench.harness``)."""
from __future__ import annotations

import itertools

import torch

from tlcourse import assets, photos
from tlcourse.bench import harness as bench
from tlcourse.torch import models
from tlcourse.ports.torch_efficientnet_lite import efficientnet_lite0


def bare_network(name: str) -> torch.nn.Module:
    """The same network as ``pretrained(name)``, built with plain torchvision
    calls and ``torch.load`` (no helper code), in eval mode."""
    path = assets.get(models._asset_name(name)).path
    if name == "efficientnet_lite0":   # torchvision has no Lite0: the module itself, loaded directly
        return efficientnet_lite0(path).eval()
    import torchvision

    builder = models.TORCHVISION[name][0]
    net = getattr(torchvision.models, builder)(weights=None)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval()


def forward_throughput(name: str, batch: int = 32, budget_s: float = 40.0) -> dict:
    """Images/s through the helper's path and through a bare forward
    (``budget_s``: about how long the timed rounds may take)."""
    model, prep = models.pretrained(name)        # raises AssetError when weights are missing
    bare = bare_network(name)
    bare_copy = bare_network(name)   # A/A control: the noise floor of the ratio
    # a real batch: the sample photos, repeated to fill it, made once by to_batch
    paths = [p for p, _ in photos.imagenet_samples()]
    x = models.to_batch(prep, list(itertools.islice(itertools.cycle(paths), batch)))

    def helper_path():
        return models.probabilities(model, x)

    def bare_path():
        with torch.inference_mode():
            return bare(x)

    def bare_copy_path():
        with torch.inference_mode():
            return bare_copy(x)

    first = bench.time_interleaved({"helper": helper_path}, rounds=1, warmup=1)["helper"][0]
    times = bench.time_interleaved({"helper": helper_path, "bare": bare_path,
                                    "bare_copy": bare_copy_path},
                                   rounds=bench.rounds_for(2 * first, budget_s), warmup=1)
    return {"images_per_s": bench.throughput(batch, times["helper"]),
            "bare_images_per_s": bench.throughput(batch, times["bare"]),
            "time_ratio": bench.paired_time_ratio(times["helper"], times["bare"]),
            "aa_ratio": bench.paired_time_ratio(times["bare_copy"], times["bare"]),
            "params": models.count_params(model)[1], "rounds": len(times["helper"]),
            "threads": torch.get_num_threads()}

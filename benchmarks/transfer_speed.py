"""What the finding transfer (Method, item 12) costs per fused slice: the same loaded model with
``finding_levels`` 0 and its configured value, interleaved, through ``fuse_slices`` at batch 1.

    .venv/bin/python benchmarks/transfer_speed.py [MODEL ...] [--repeats N]

Default: the shipped models. Prints the median ms per slice at 256x256 and 512x512, with and
without the transfer, and the difference in per cent (single runs on a shared 2-core CPU vary by
about 30 %; the interleaving keeps both sides under the same load).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from FusionCINNLib.fusion.allocator import keep_freed_memory  # noqa: E402
from FusionCINNLib.fusion.slices import fuse_slices  # noqa: E402
from FusionCINNLib.network.model_files import available_models, load_model  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="*")
    parser.add_argument("--repeats", type=int, default=60)
    args = parser.parse_args()
    keep_freed_memory()  # as the fusioncinn command does
    torch.set_grad_enabled(False)
    rng = np.random.default_rng(0)
    for path in args.models or available_models():
        net = load_model(path).net
        levels = net.config.finding_levels or 5
        configs = {"without": replace(net.config, finding_levels=0), "with": replace(net.config, finding_levels=levels)}
        for size in (256, 512):
            a, b = (rng.random((1, size, size), dtype=np.float32) for _ in range(2))
            times = {name: [] for name in configs}
            for _ in range(args.repeats):
                for name, config in configs.items():
                    net.config = config
                    start = time.perf_counter()
                    fuse_slices(net, a, b, device="cpu", batch_size=1)
                    times[name].append(time.perf_counter() - start)
            ms = {name: 1000 * float(np.median(values)) for name, values in times.items()}
            print(f"{Path(path).name} {size}x{size}: without {ms['without']:.1f} ms, with {ms['with']:.1f} ms "
                  f"({100 * (ms['with'] / ms['without'] - 1):+.1f} %), {torch.get_num_threads()} threads", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

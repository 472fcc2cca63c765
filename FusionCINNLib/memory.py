"""Free memory, so that jobs too large for this machine are refused up front instead of swapping or crashing.

Volume fusion needs, on the reference grid, about ``VOLUME_COPIES`` float32 copies of the volume
(the reference input, the resampled other input until it is normalised, both normalised stacks, the
reference's receiving the fused slices and rescaled in place, and the output image, with room for the
process itself), plus, when the network runs on the CPU, its activations for one batch of slices:
about 4 * (24 + 2 * hidden[0]) bytes per padded slice pixel (measured: 220 B for the default
network, 120 B for the tiny test network); and with the finding transfer, the slices fused and held until
the slices within the headroom pedestal's reach across slices are (fusion.across_slices): ``HELD_FLOATS``
floats per padded pixel of each.

Free memory is the smallest of /proc/meminfo's MemAvailable and the room left under a cgroup v2
limit (containers); None where neither can be read (then no check is made).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .errors import FusionInputError

GB = 1024 ** 3
MEMINFO = Path("/proc/meminfo")
CGROUP = Path("/sys/fs/cgroup")


def _meminfo_available() -> Optional[int]:
    try:
        for line in MEMINFO.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> Optional[int]:
    try:
        limit = (CGROUP / "memory.max").read_text(encoding="ascii").strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((CGROUP / "memory.current").read_text(encoding="ascii").strip()))
    except (OSError, ValueError):
        return None


def available_memory_bytes() -> Optional[int]:
    """Bytes this process can still allocate without swapping, or None when unknown."""
    known = [v for v in (_meminfo_available(), _cgroup_room()) if v is not None]
    return min(known) if known else None


VOLUME_COPIES = 8
ACTIVATION_FLOATS = 24
HELD_FLOATS = 6
"""A held slice: the fused image before the transfer, its correction and mask and the fill's allowance
(network.fusion_net.TransferParts), the pedestal's fields (11 values per 16 pixels), the floor's (1 per 16) and
what its neighbours' gates read (fusion.across_slices.kept_for_neighbours: its excess and 15 window sums per 16
pixels), 5.8 floats a pixel."""


def fusion_bytes(voxels: int, slice_pixels: int, batch: int, hidden0: int, on_cpu: bool, held: int = 0) -> int:
    """Estimated peak bytes of fusing a volume of ``voxels`` in batches of ``batch`` padded slices, ``held``
    fused slices waiting for their neighbours."""
    activations = batch * slice_pixels * 4 * (ACTIVATION_FLOATS + 2 * hidden0) if on_cpu else 0
    return voxels * 4 * VOLUME_COPIES + activations + held * slice_pixels * 4 * HELD_FLOATS


def gigabytes(count: int) -> str:
    """'1.3 GB' style text for a byte count."""
    return f"{count / GB:.1f} GB" if count >= GB / 10 else f"{count / GB:.2f} GB"


def require_memory(needed: int, what: str, advice: str) -> None:
    """FusionInputError '``what``: needs about X GB of memory, Y GB free; ``advice``' when it does not fit."""
    free = available_memory_bytes()
    if free is not None and needed > free:
        raise FusionInputError(f"{what}: needs about {gigabytes(needed)} of memory, {gigabytes(free)} free; {advice}")

"""A FusionNet traced into a TorchScript graph for one slice shape, so that repeated CPU fusion of
that shape skips the Python of FrEIA's blocks and of the network (about 1000 small operations a
slice): 15-35 % less CPU time per 256x256 slice, 0-15 % per 512x512 one, fused values within 2e-6
of the plain network (docs/speed.md).

A trace is only made for float32 on the CPU, and only for a shape this network has already fused
``TRACE_AFTER`` times in this process (a folder of pictures, a volume), since tracing costs about
one second. It shares the network's parameters, and is dropped when any of them is replaced or
changed in place. torch.compile was measured too: its first call on this 2-core CPU took over
five minutes.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple, Union

import torch
from torch import nn

from ..network.finding_transfer import uniform_thresholds
from ..network.fusion_net import FusionNet

TRACE_AFTER = 8
"""Slices (or batches) of one shape fused with the plain network before that shape is traced."""

Shape = Tuple[int, ...]
Graph = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Union[torch.Tensor, Tuple[torch.Tensor, ...]]]


class _TensorOutputs(nn.Module):
    """The network's ``fused`` output alone (a trace returns tensors, not FusionOutputs), or with ``parts`` the
    tensors of its TransferParts (TransferParts.tensors; a volume's slices), with the finding transfer's salience
    thresholds as an input."""

    def __init__(self, net: FusionNet, parts: bool):
        super().__init__()
        self.net, self.parts = net, parts

    def forward(self, a: torch.Tensor, b: torch.Tensor, salience: torch.Tensor
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        if self.parts:
            parts = self.net.transfer_parts(a, b, salience)
            return parts.tensors()
        return self.net(a, b, salience).fused


@dataclass
class _Traces:
    """The traces of one network, by input shape and output (the fused image or the transfer's parts), and how
    often each was run untraced."""

    fingerprint: tuple
    graphs: Dict[Tuple[Shape, bool], Graph] = field(default_factory=dict)
    seen: Dict[Tuple[Shape, bool], int] = field(default_factory=dict)


_CACHE: "weakref.WeakKeyDictionary[FusionNet, _Traces]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _fingerprint(net: FusionNet) -> tuple:
    """The model's configuration (a trace bakes in its choices, such as the finding transfer's levels),
    and the identity and in-place version of every parameter and buffer: changes when the configuration
    is replaced or weights are loaded, trained or moved."""
    return (net.config, *((t.data_ptr(), t._version, t.dtype, t.device) for t in (*net.parameters(), *net.buffers())))


def _trace(net: FusionNet, a: torch.Tensor, b: torch.Tensor, parts: bool) -> Graph:
    with warnings.catch_warnings():  # the filters are the process's: only the tracer's own warnings are dropped
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # shapes taken as constants
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.trace", category=DeprecationWarning)
        salience = uniform_thresholds(net.config.finding_levels).to(a.device)
        return torch.jit.trace(_TensorOutputs(net, parts), (a, b, salience), check_trace=False)


def traced_fusion(net: FusionNet, a: torch.Tensor, b: torch.Tensor, parts: bool = False) -> Optional[Graph]:
    """The traced network for inputs shaped like ``a`` and ``b`` ((N, 1, H, W), already padded), called as
    ``graph(a, b, salience)`` (salience: the finding transfer's (finding_levels,) thresholds) for the fused
    image, or with ``parts`` for the five tensors of FusionNet.transfer_parts; or None
    when the plain network should run: not float32 on the CPU, the subnets set to another precision,
    or a shape seen fewer than ``TRACE_AFTER`` times. Call under ``torch.inference_mode``."""
    if a.device.type != "cpu" or a.dtype != torch.float32 or net.training:
        return None
    key = (tuple(a.shape), parts)
    with _LOCK:
        fingerprint = _fingerprint(net)
        traces = _CACHE.get(net)
        if traces is None or traces.fingerprint != fingerprint:
            traces = _CACHE[net] = _Traces(fingerprint)
        graph = traces.graphs.get(key)
        if graph is None:
            traces.seen[key] = traces.seen.get(key, 0) + 1
            if traces.seen[key] <= TRACE_AFTER:
                return None
            graph = traces.graphs[key] = _trace(net, a, b, parts)
        return graph

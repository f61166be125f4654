"""What ``/health`` reports about the torch device: name, type, index and memory.

Inside ComfyUI the figures come from ``comfy.model_management`` (what ``/system_stats``
shows); outside it (the demo host, tests) from torch directly, and without torch from the
operating system. Imports happen lazily so this module loads without either.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DeviceReport:
    """The device as a load balancer or monitor needs it."""

    name: str
    type: str
    index: int | None
    total: int
    free: int


def probe_device() -> DeviceReport:
    """Ask ComfyUI's model management if it is loaded, else torch, else the OS."""
    if "comfy.model_management" in sys.modules:
        return _from_comfy(sys.modules["comfy.model_management"])
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return _from_os()
    return _from_torch(torch)


def _from_comfy(management: Any) -> DeviceReport:
    device = management.get_torch_device()
    kind = str(getattr(device, "type", device))
    index = getattr(device, "index", None)
    if kind == "cuda":
        import torch

        name = str(torch.cuda.get_device_name(device))
    else:
        name = str(management.get_torch_device_name(device))
    return DeviceReport(
        name=name,
        type=kind,
        index=index if isinstance(index, int) else None,
        total=int(management.get_total_memory(device)),
        free=int(management.get_free_memory(device)),
    )


def _from_torch(torch: Any) -> DeviceReport:
    if torch.cuda.is_available():
        index = int(torch.cuda.current_device())
        free, total = torch.cuda.mem_get_info(index)
        return DeviceReport(str(torch.cuda.get_device_name(index)), "cuda", index, total, free)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        total = int(torch.mps.recommended_max_memory())
        free = max(0, total - int(torch.mps.current_allocated_memory()))
        return DeviceReport("Apple MPS", "mps", None, total, free)
    return _from_os()


def _from_os() -> DeviceReport:
    page = os.sysconf("SC_PAGE_SIZE")
    total = page * os.sysconf("SC_PHYS_PAGES")
    free = page * os.sysconf("SC_AVPHYS_PAGES")
    return DeviceReport("cpu", "cpu", None, total, free)

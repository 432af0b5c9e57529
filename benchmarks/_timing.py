"""Timing and memory helpers shared by the benchmark scripts (not part of the library).

* :func:`best_time` — the best of ``repeats`` runs after one warm-up, with CUDA synchronised;
* :class:`PeakMemory` — the peak memory a block added (CUDA allocator, or the process's peak
  resident set on Linux);
* :func:`header` — one line naming the machine, torch and the thread count, printed first by
  every benchmark so that figures are never read without their machine.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

__all__ = ["best_time", "PeakMemory", "header", "cpu_name"]


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(device: torch.device | str = "cpu", extra: str = "") -> str:
    """``# AMD EPYC ..., torch 2.x, device cpu, threads 2``, plus ``extra``."""
    return (f"# {cpu_name()}, torch {torch.__version__}, device {device}, "
            f"threads {torch.get_num_threads()}" + (f", {extra}" if extra else ""))


def best_time(fn, repeats: int = 3, device: torch.device | str = "cpu") -> float:
    """Seconds of the fastest of ``repeats`` calls of ``fn()`` after one warm-up call."""
    device = torch.device(device)
    fn()  # warm-up
    best = float("inf")
    for _ in range(max(1, repeats)):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return best


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux); False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakMemory:
    """Peak memory (MB) the block added: CUDA allocator peak on GPU; on CPU, the process's
    peak resident memory minus what it held before the block (model and runtime excluded)."""

    def __init__(self, device: torch.device | str):
        self.device = torch.device(device)
        self.mb = float("nan")

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.baseline = _status_mb("VmRSS")
            self.ok = _reset_peak_rss()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self.ok:
            self.mb = _status_mb("VmHWM") - self.baseline

"""Benchmark the SeparationNet presets on this machine (CPU or GPU).

Prints, for each preset: parameters, FLOPs per second of audio, training-step time (also with
channels-last activations), inference time and real-time factor (float32, and bfloat16 where
supported, with its error against float32), and peak memory. Timings are the best of
``--repeats`` runs after one warm-up.

    python benchmarks/separator.py                       # all presets, 10 s of audio
    python benchmarks/separator.py --presets audiosep --seconds 10 --threads 2
    python benchmarks/separator.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from lassnet.separator import PRESETS, SeparationNet


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

    def __init__(self, device: torch.device):
        self.device = device
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


def _best_time(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return best


def bench_preset(name, seconds, train_batch, train_seconds, repeats, device, bf16, cond_dim):
    torch.manual_seed(0)
    net = SeparationNet.from_preset(name, condition_dim=cond_dim).to(device)
    sr = net.config.sample_rate
    mixture = 0.1 * torch.randn(1, 1, int(seconds * sr), device=device)
    query = torch.nn.functional.normalize(torch.randn(1, cond_dim, device=device), dim=1)
    row = {"preset": name, "sample_rate": sr, "parameters": net.num_parameters()}

    one_second = 0.1 * torch.randn(1, 1, sr, device=device)
    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(one_second, query)
    row["gflops_per_audio_second"] = counter.get_total_flops() / 1e9

    with PeakMemory(device) as mem:
        t = _best_time(lambda: net.infer(mixture, query), repeats, device)
    row.update(infer_fp32_s=t, rtf_fp32=t / seconds, infer_peak_mb=mem.mb)
    if bf16:
        ref = net.infer(mixture, query)
        t = _best_time(lambda: net.infer(mixture, query, precision="bfloat16"), repeats, device)
        out = net.infer(mixture, query, precision="bfloat16")
        row.update(infer_bf16_s=t, rtf_bf16=t / seconds,
                   bf16_rel_error=((out - ref).norm() / ref.norm()).item())

    net.train()
    net.to(memory_format=torch.contiguous_format)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    batch = 0.1 * torch.randn(train_batch, 1, int(train_seconds * sr), device=device)
    cond = query.expand(train_batch, -1)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = (net(batch, cond) - batch).abs().mean()
        loss.backward()
        opt.step()

    with PeakMemory(device) as mem:
        t = _best_time(step, max(1, repeats - 1), device)
    row.update(train_step_s=t, train_batch=f"{train_batch} x {train_seconds:g} s",
               train_peak_mb=mem.mb)
    net.to(memory_format=torch.channels_last)  # TrainConfig.channels_last: same maths, NHWC
    row.update(train_step_cl_s=_best_time(step, max(1, repeats - 1), device))
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length for inference")
    parser.add_argument("--train-batch", type=int, default=2)
    parser.add_argument("--train-seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--condition-dim", type=int, default=512)
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    bf16 = device.type == "cuda" or torch.backends.mkldnn.is_available()
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"device {device}, threads {torch.get_num_threads()}, {args.seconds:g} s of audio")
    rows = []
    for name in args.presets.split(","):
        row = bench_preset(name, args.seconds, args.train_batch, args.train_seconds,
                           args.repeats, device, bf16, args.condition_dim)
        rows.append(row)
        print(f"\n[{name}] {row['parameters']:,} parameters, {row['sample_rate']} Hz")
        print(f"  {row['gflops_per_audio_second']:.1f} GFLOPs per second of audio (forward)")
        print(f"  inference fp32: {row['infer_fp32_s']:.2f} s  (RTF {row['rtf_fp32']:.3f}), "
              f"+{row['infer_peak_mb']:.0f} MB peak")
        if "infer_bf16_s" in row:
            print(f"  inference bf16: {row['infer_bf16_s']:.2f} s  (RTF {row['rtf_bf16']:.3f}), "
                  f"relative error vs fp32 {100 * row['bf16_rel_error']:.2f} %")
        print(f"  training step ({row['train_batch']}): {row['train_step_s']:.2f} s, "
              f"+{row['train_peak_mb']:.0f} MB peak; channels-last "
              f"{row['train_step_cl_s']:.2f} s "
              f"({row['train_step_s'] / row['train_step_cl_s']:.2f}x)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

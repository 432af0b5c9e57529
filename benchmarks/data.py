"""Benchmark the data layer on one CPU core: synthetic clips and mixtures per second.

Prints clips/s of the synthetic corpus at 16 kHz and 32 kHz (5 s clips by default, every class
in turn, as ``SyntheticClips`` serves them), the slowest classes, clips/s of the out-of-recipe
test corpus (``OutOfRecipeClips``, recording chain included), and mixtures/s of
``MixtureDataset`` (AudioSep-style mixing of 1-3 interferers). The target is at least 200
clips/s at 16 kHz.

    python benchmarks/data.py
    python benchmarks/data.py --seconds 2 --clips 280 --mixtures 100 --json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from lassnet.data import CLASSES, MixtureDataset, OutOfRecipeClips, SyntheticClips, synthesize


def _rate(fn, count: int) -> float:
    """Items per second of ``fn(i)`` for ``i < count`` (after one warm-up call)."""
    fn(0)
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - start)


def per_class_ms(sample_rate: int, seconds: float, per_class: int) -> dict[str, float]:
    """Milliseconds per clip of every class."""
    out = {}
    for name in CLASSES:
        rate = _rate(
            lambda i, name=name: synthesize(name, 10_000 + i, sample_rate, seconds), per_class
        )
        out[name] = 1000.0 / rate
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length (s)")
    parser.add_argument("--clips", type=int, default=560, help="clips per sample rate")
    parser.add_argument("--mixtures", type=int, default=150, help="mixtures to time")
    parser.add_argument("--per-class", type=int, default=20, help="clips per class timing")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    results = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "seconds": args.seconds,
    }
    print(f"data benchmark: {args.seconds:g} s clips, {torch.get_num_threads()} torch thread(s)")
    for sr in (16000, 32000):
        clips = SyntheticClips("train", sr, args.seconds, count=args.clips)
        rate = _rate(lambda i, clips=clips: clips[i], args.clips)
        results[f"clips_per_s_{sr // 1000}k"] = rate
        print(
            f"  synthetic clips @ {sr // 1000} kHz: {rate:7.1f} clips/s "
            f"({rate * args.seconds:7.0f} s of audio per s)"
        )
    for sr in (16000, 32000):
        clips = OutOfRecipeClips("test", sr, args.seconds, count=args.clips)
        rate = _rate(lambda i, clips=clips: clips[i], args.clips)
        results[f"out_of_recipe_clips_per_s_{sr // 1000}k"] = rate
        print(
            f"  out-of-recipe clips @ {sr // 1000} kHz: {rate:7.1f} clips/s "
            f"({rate * args.seconds:7.0f} s of audio per s)"
        )
    slow = per_class_ms(16000, args.seconds, args.per_class)
    results["ms_per_class_16k"] = slow
    worst = sorted(slow.items(), key=lambda kv: -kv[1])[:4]
    print("  slowest classes @ 16 kHz: " + ", ".join(f"{c} {ms:.1f} ms" for c, ms in worst))
    for sr in (16000, 32000):
        mixtures = MixtureDataset(count=args.mixtures, sample_rate=sr, duration=args.seconds)
        rate = _rate(lambda i, m=mixtures: m[i], args.mixtures)
        results[f"mixtures_per_s_{sr // 1000}k"] = rate
        print(f"  mixtures (1-3 interferers) @ {sr // 1000} kHz: {rate:7.1f} mixtures/s")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

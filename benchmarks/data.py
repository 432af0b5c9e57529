"""Benchmark the data layer on one CPU core: synthetic clips and mixtures per second.

Prints clips/s of the synthetic corpus at 16 kHz and 32 kHz (5 s clips by default, every class
in turn, as ``SyntheticClips`` serves them), the slowest classes, clips/s of the out-of-recipe
test corpus (``OutOfRecipeClips``, recording chain included), and mixtures/s of
``MixtureDataset`` (AudioSep-style mixing of 1-3 interferers). The target is at least 200
clips/s at 16 kHz.

    python benchmarks/data.py
    python benchmarks/data.py --seconds 2 --clips 280 --mixtures 100 --json
    python benchmarks/data.py --cache       # also: the rendered clip cache (RenderedClips)
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
    parser.add_argument("--cache", action="store_true",
                        help="also time the rendered clip cache: rendering, and mixtures from it")
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
    if args.cache:
        for sr in (16000, 32000):
            results[f"cache_{sr // 1000}k"] = cache_rates(sr, args.seconds, args.clips,
                                                          args.mixtures)
    if args.json:
        print(json.dumps(results, indent=2))


def cache_rates(sample_rate: int, seconds: float, clips: int, mixtures: int) -> dict[str, float]:
    """The rendered clip cache (:class:`lassnet.data.RenderedClips`) against making clips on
    the fly, for a pool of ``clips`` synthetic clips of ``seconds`` at ``sample_rate``:
    clips/s of the one-off render (in this process), of reading clips back from the file, and
    mixtures/s of ``MixtureDataset`` (1-3 interferers) on the pool made on the fly and on the
    cached pool. The file goes to a temporary folder that is removed afterwards."""
    import tempfile

    from lassnet.data import RenderedClips

    pool = SyntheticClips("train", sample_rate, seconds, count=clips)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        cached = RenderedClips(pool, folder, progress=False)
        out["render_clips_per_s"] = clips / (time.perf_counter() - start)
        start = time.perf_counter()
        RenderedClips(pool, folder, progress=False)  # opening checks the SHA-256
        out["open_and_check_s"] = time.perf_counter() - start
        out["read_clips_per_s"] = _rate(lambda i: cached[i], clips)
        for name, source in (("on_the_fly", pool), ("cached", cached)):
            dataset = MixtureDataset(source, count=mixtures, sample_rate=sample_rate,
                                     duration=seconds)
            out[f"mixtures_per_s_{name}"] = _rate(lambda i, d=dataset: d[i], mixtures)
        out["file_mib"] = cached.path.stat().st_size / 2**20
    khz = sample_rate // 1000
    print(f"  cache @ {khz} kHz, a pool of {clips} clips ({out['file_mib']:.0f} MiB): render "
          f"{out['render_clips_per_s']:.1f} clips/s (once), open + check "
          f"{out['open_and_check_s']:.2f} s, read {out['read_clips_per_s']:.0f} clips/s")
    print(f"  mixtures @ {khz} kHz from the pool: on the fly "
          f"{out['mixtures_per_s_on_the_fly']:.1f}/s, from the cache "
          f"{out['mixtures_per_s_cached']:.1f}/s")
    return out


if __name__ == "__main__":
    main()

"""Benchmark the whole model: training throughput per config, and ``separate()`` on long audio.

    python benchmarks/model.py                       # everything, CPU
    python benchmarks/model.py --what separate --presets tiny --seconds 600

Prints, per training config: steps/s and clips/s of the real trainer (data loading, query
embedding, forward, backward, optimiser; the first steps are excluded as warm-up); per
separator preset: the real-time factor of ``LASSModel.separate()`` (seconds of compute per
second of audio, < 1 is faster than real time) and, for ``tiny``, the peak memory a default
``separate()`` call added while separating ``--memory-seconds`` of audio (30 minutes by
default): the peak resident memory above what the process held with the input already in
memory, and that peak less the output array the call returns (``beyond input and output``;
the target is under 100 MB whatever the length, since ``separate()`` streams its chunks).
Untrained weights: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _timing import PeakMemory, header  # benchmarks/_timing.py, beside this file

from lassnet import query
from lassnet.model import LASSModel
from lassnet.separator import SeparationNet
from lassnet.train import Trainer, load_config, read_log
from lassnet.train.state import LOSS_LOG


def bench_training(config: str, steps: int, batch_size: int | None, device: str,
                   precision: str | None, num_workers: int | None, encoder) -> dict:
    """Train ``steps`` steps of a config in a temporary folder; time the steady-state ones."""
    overrides = dict(steps=steps, log_every=1, checkpoint_every=10**9, validate_every=10**9)
    if batch_size:
        overrides["batch_size"] = batch_size
    if precision:
        overrides["precision"] = precision
    if num_workers is not None:
        overrides["num_workers"] = num_workers
    cfg = load_config(config, **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, device=device, encoder=encoder, progress=False)
        trainer.fit()
        rows = read_log(Path(tmp) / LOSS_LOG)
    warm = min(2, len(rows) - 2)  # skip the first steps (allocations, worker start-up)
    seconds = float(rows[-1]["seconds"]) - float(rows[warm]["seconds"])
    timed = int(rows[-1]["step"]) - int(rows[warm]["step"])
    per_second = timed / seconds
    return {
        "config": config,
        "preset": cfg.preset,
        "batch": cfg.batch_size,
        "segment_s": cfg.duration,
        "precision": cfg.precision,
        "steps_timed": timed,
        "steps_per_s": round(per_second, 3),
        "clips_per_s": round(per_second * cfg.batch_size, 2),
        "audio_s_per_s": round(per_second * cfg.batch_size * cfg.duration, 1),
        "threads": torch.get_num_threads(),
    }


def bench_separate(preset: str, seconds: float, memory_seconds: float, repeats: int,
                   device: str, encoder) -> dict:
    """Real-time factor of ``separate()`` and peak memory on long audio.

    The memory figure comes first, after a 2 s warm-up only (the precision choice, the query
    cache): a process that has already separated long audio keeps freed memory in its
    allocator, which would hide what a call needs."""
    torch.manual_seed(0)
    model = LASSModel(SeparationNet.from_preset(preset, condition_dim=encoder.dim), encoder)
    model = model.to(device).eval()
    sr = model.sample_rate
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(int(seconds * sr))).astype(np.float32)
    model.separate(wave[: sr * 2], sr, "a siren wailing")  # warm-up (and the query cache)
    row = {"preset": preset, "sample_rate": sr, "audio_s": seconds}
    if memory_seconds:
        long = (0.1 * rng.standard_normal(int(memory_seconds * sr))).astype(np.float32)
        with PeakMemory(torch.device(device)) as peak:  # the input is already held
            t0 = time.perf_counter()
            out = model.separate(long, sr, "a siren wailing")  # the defaults
            long_s = time.perf_counter() - t0
        assert out.shape == long.shape and np.isfinite(out).all()
        output_mb = out.nbytes / 2**20
        row.update({"memory_audio_s": memory_seconds, "memory_separate_s": round(long_s, 1),
                    "input_mb": round(long.nbytes / 2**20, 1),
                    "output_mb": round(output_mb, 1),
                    "peak_added_mb": round(peak.mb, 1),
                    "beyond_input_output_mb": round(peak.mb - output_mb, 1)})
        del long, out
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = model.separate(wave, sr, "a siren wailing")
        best = min(best, time.perf_counter() - t0)
    assert out.shape == wave.shape
    row.update({"separate_s": round(best, 3), "rtf": round(best / seconds, 4)})
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", default="train,separate", help="train, separate or both")
    parser.add_argument("--configs", default="tiny-cpu,audiosep")
    parser.add_argument("--train-steps", type=int, default=12)
    parser.add_argument("--audiosep-batch", type=int, default=2,
                        help="batch for the audiosep config on CPU (its own 16 x 5 s is a GPU "
                             "batch); 0 keeps the config's")
    parser.add_argument("--presets", default="tiny,audiosep")
    parser.add_argument("--seconds", type=float, default=60.0, help="audio for the RTF")
    parser.add_argument("--memory-seconds", type=float, default=1800.0,
                        help="audio for the memory figure (tiny only; 0 skips)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(header(args.device))
    encoder = query.build("minilm", device=args.device)
    rows = []
    what = set(args.what.split(","))
    if "train" in what:
        print(f"training throughput ({args.device}):")
        for config in args.configs.split(","):
            small = config == "audiosep" and args.device == "cpu"
            row = bench_training(
                config, args.train_steps if not small else max(4, args.train_steps // 4),
                args.audiosep_batch if small and args.audiosep_batch else None, args.device,
                "float32" if args.device == "cpu" and config == "audiosep" else None,
                0 if small else None, encoder,
            )
            torch.set_num_threads(args.threads or threads)  # a config may set its own threads
            rows.append({"kind": "train", **row})
            print(f"  {config:10s} {row['preset']:9s} batch {row['batch']:2d} x "
                  f"{row['segment_s']:.0f} s  {row['steps_per_s']:7.3f} steps/s  "
                  f"{row['clips_per_s']:7.2f} clips/s  ({row['audio_s_per_s']} s of audio/s, "
                  f"{row['threads']} threads, {row['precision']})")
    if "separate" in what:
        print(f"separate() ({args.device}, {torch.get_num_threads()} threads):")
        for preset in args.presets.split(","):
            seconds = args.seconds if preset == "tiny" else min(args.seconds, 20.0)
            row = bench_separate(preset, seconds, args.memory_seconds if preset == "tiny" else 0,
                                 args.repeats, args.device, encoder)
            rows.append({"kind": "separate", **row})
            line = (f"  {preset:9s} {row['audio_s']:.0f} s at {row['sample_rate']} Hz: "
                    f"{row['separate_s']:.2f} s  RTF {row['rtf']:.4f}")
            if "peak_added_mb" in row:
                target = "under" if row["beyond_input_output_mb"] < 100 else "OVER"
                line += (f";  {row['memory_audio_s']:.0f} s of audio: "
                         f"{row['memory_separate_s']} s, peak memory added "
                         f"{row['peak_added_mb']:.0f} MB = output {row['output_mb']:.0f} MB "
                         f"+ {row['beyond_input_output_mb']:.0f} MB beyond input "
                         f"({row['input_mb']:.0f} MB) and output ({target} the 100 MB target)")
            print(line)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()

"""Benchmark the query encoders (QueryNet back-ends) on this machine.

For each encoder, in a fresh Python process so that imports count: load time, text
embeddings per second (distinct captions, cache cleared: the model's real cost), text
embeddings per second when every caption is cached (what training sees after the first
epoch), and audio embeddings per second (clips at 16 kHz, resampling included). Timings are
the best of ``--repeats`` runs after one warm-up.

    python benchmarks/query.py                                 # minilm, minilm-audio, label
    python benchmarks/query.py --encoders clap --clap-checkpoint CLAP.pt  # e.g. AudioSep's
    python benchmarks/query.py --encoders clap --clap-random   # HTS-AT tiny, random weights
    python benchmarks/query.py --threads 2 --json out.json
    python benchmarks/query.py --encoders minilm-audio clap --clap-checkpoint CLAP.pt --gap 8

``--gap N`` also measures each audio-capable encoder's modality gap
(:func:`lassnet.introspect.encoder_gap`): N test clips per class of the synthetic corpus
against the corpus's 70 captions; the mean cosine of two paraphrases, of a clip and its own
class's captions, of a clip and other classes' captions, and the distance between the two
modalities' centres (chapter 4). With AudioSep's CLAP checkpoint this is CLAP's gap.

``--clap-random`` builds laion-clap's HTS-AT tiny with random weights and a one-layer stand-in
text tower (no download): its audio figures are those of the real HTS-AT tiny, its text
figures are not those of RoBERTa.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _timing import best_time as _best_time  # benchmarks/_timing.py, beside this file

TEMPLATES = ["a {} sound", "the sound of a {}", "a {} in the distance", "a loud {}",
             "someone recording a {}", "a quiet {} nearby", "a {} close to the microphone",
             "a faint {} outside"]
NOUNS = ["siren", "telephone", "bell", "guitar string", "engine", "rainstorm", "wind gust",
         "clock", "bird", "drum", "alarm", "hum", "whistle", "dripping tap"]


def captions(n: int) -> list[str]:
    """``n`` distinct captions."""
    out = [t.format(w) for t in TEMPLATES for w in NOUNS]
    while len(out) < n:
        out += [f"{c} ({len(out) // 112})" for c in out[:112]]
    return out[:n]


def worker(args) -> dict:
    """Measure one encoder (run in its own process)."""
    torch.set_num_threads(args.threads)
    options: dict = {"device": args.device}
    if args.worker == "clap":
        options["checkpoint"] = args.clap_checkpoint
        if args.clap_cwd:  # where the stand-in roberta-base/ folder is
            os.chdir(args.clap_cwd)
    t0 = time.perf_counter()
    from lassnet import query

    encoder = query.build(args.worker, **options)
    load_s = time.perf_counter() - t0
    device = encoder.device
    if args.worker == "label":  # it answers only its own names and captions
        names = list(encoder.lookup)
        texts = [names[i % len(names)] for i in range(args.batch)]
    else:
        texts = captions(args.batch)

    def uncached():
        encoder.clear_cache()
        encoder.embed_text(texts)

    def cached():
        encoder.embed_text(texts)

    result = {
        "encoder": args.worker,
        "dim": encoder.dim,
        "device": str(device),
        "load_s": load_s,
        "text_per_s": args.batch / _best_time(uncached, args.repeats, device),
    }
    if encoder.cache.maxsize:
        encoder.embed_text(texts)
        result["text_cached_per_s"] = args.batch / _best_time(cached, args.repeats, device)
    if encoder.supports_audio:
        gen = torch.Generator().manual_seed(0)
        clips = 0.1 * torch.randn(args.audio_batch, 1, int(16000 * args.seconds), generator=gen)
        seconds = _best_time(lambda: encoder.embed_audio(clips, 16000), args.repeats, device)
        result["audio_per_s"] = args.audio_batch / seconds
        if args.gap:
            from lassnet.data import CAPTIONS, SyntheticClips
            from lassnet.introspect import encoder_gap

            clips = SyntheticClips("test", 16000, 3.0, count=len(CAPTIONS) * args.gap)
            items = [clips[i] for i in range(len(clips))]
            waves = torch.stack([it["wave"][0] for it in items])  # (N, L)
            gap = encoder_gap(encoder, CAPTIONS, waves, [it["label"] for it in items], 16000)
            result["gap"] = gap | {"clips": len(items)}
    return result


def write_random_clap(folder: str) -> str:
    """HTS-AT tiny CLAP with random weights and a stand-in text tower, saved in ``folder``."""
    from lassnet._compat.laion_clap import import_clap_module
    from lassnet.testing import write_random_roberta

    write_random_roberta(folder)
    os.chdir(folder)
    torch.manual_seed(0)
    model, _ = import_clap_module().create_model(
        "HTSAT-tiny", "roberta", precision="fp32", device=torch.device("cpu"),
        enable_fusion=False,
    )
    path = str(Path(folder) / "random-htsat-tiny.pt")
    torch.save(model.state_dict(), path)
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=["minilm", "minilm-audio", "label"])
    parser.add_argument("--clap-checkpoint", help="a LAION-CLAP checkpoint for 'clap'")
    parser.add_argument("--clap-random", action="store_true",
                        help="benchmark 'clap' with random HTS-AT tiny weights (no download)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64, help="captions per text batch")
    parser.add_argument("--audio-batch", type=int, default=8, help="clips per audio batch")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each audio clip")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gap", type=int, default=0, metavar="N",
                        help="also measure the modality gap with N test clips per class")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--clap-cwd", help=argparse.SUPPRESS)
    parser.add_argument("--write-random-clap", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return
    if args.write_random_clap:
        print(write_random_clap(args.write_random_clap))
        return
    if "clap" in args.encoders and not (args.clap_checkpoint or args.clap_random):
        parser.error("'clap' needs --clap-checkpoint PATH or --clap-random")
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} threads, device {args.device}; text batch {args.batch}, "
          f"audio batch {args.audio_batch} x {args.seconds:g} s @ 16 kHz")
    print(f"{'encoder':14s} {'D':>4s} {'load s':>8s} {'text/s':>9s} {'cached/s':>10s} "
          f"{'audio/s':>9s}")
    # workers import lassnet from this checkout, whatever else is installed
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p))
    rows = []
    passthrough = ["--device", args.device, "--threads", str(args.threads), "--batch",
                   str(args.batch), "--audio-batch", str(args.audio_batch), "--seconds",
                   str(args.seconds), "--repeats", str(args.repeats), "--gap", str(args.gap)]
    if args.clap_checkpoint:
        passthrough += ["--clap-checkpoint", str(Path(args.clap_checkpoint).resolve())]
    tmp = tempfile.TemporaryDirectory()
    if args.clap_random and "clap" in args.encoders:
        proc = subprocess.run([sys.executable, __file__, "--write-random-clap", tmp.name],
                              capture_output=True, text=True, env=env, check=True)
        checkpoint = proc.stdout.strip().splitlines()[-1]
        passthrough += ["--clap-checkpoint", checkpoint, "--clap-cwd", tmp.name]
    for name in args.encoders:
        proc = subprocess.run([sys.executable, __file__, "--worker", name, *passthrough],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            print(f"{name:14s} skipped: {reason}")
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        text, cached, audio = (
            f"{row[k]:.0f}" if k in row else "-"
            for k in ("text_per_s", "text_cached_per_s", "audio_per_s")
        )
        print(f"{name:14s} {row['dim']:4d} {row['load_s']:8.1f} {text:>9s} {cached:>10s} "
              f"{audio:>9s}")
    tmp.cleanup()
    gaps = [r for r in rows if "gap" in r]
    if gaps:
        print(f"\nmodality gap (mean cosine; {gaps[0]['gap']['clips']} test clips, 70 captions)")
        print(f"{'encoder':14s} {'caption-caption':>16s} {'clip-caption':>13s} "
              f"{'(other classes)':>16s} {'centre gap':>11s}")
        for r in gaps:
            g = r["gap"]
            print(f"{r['encoder']:14s} {g['text_same']:16.2f} {g['cross_same']:13.2f} "
                  f"{g['cross_other']:16.2f} {g['centroid_distance']:11.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

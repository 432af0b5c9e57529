"""The ``lassnet`` command: ``separate``, ``train``, ``evaluate``, ``train-query``, ``info``.

User mistakes (a missing file, unreadable audio, an empty query, an unknown preset) end with
one line on stderr and exit status 2 — never a traceback.

    lassnet separate mix.wav --query "a siren wailing" -o siren.wav
    lassnet train --config tiny-cpu --out runs/tiny-cpu
    lassnet evaluate --checkpoint runs/tiny-cpu/model.pt --count 14
    lassnet info
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

__all__ = ["main"]


class UserError(Exception):
    """A mistake in the command line, reported in one line."""


def _separate(args) -> None:
    from .audio import load_audio, save_audio
    from .model import LASSModel
    from .paths import shipped_model

    if not args.query and not args.query_audio:
        raise UserError("give a text query (--query) or an audio query (--query-audio)")
    if args.query is not None and not args.query.strip():
        raise UserError("the query is empty")
    if not Path(args.input).is_file():
        raise UserError(f"input file not found: {args.input}")
    model = LASSModel.load(args.checkpoint or shipped_model())
    wave, sr = load_audio(args.input, mono=False)  # (C, L): a stereo file stays stereo
    query, query_sr = args.query, None
    if args.query_audio:
        query, query_sr = load_audio(args.query_audio, mono=True)
        query = query[0]
    out = model.separate(wave, sr, query, query_sample_rate=query_sr,
                         chunk_seconds=args.chunk_seconds, precision=args.precision)  # (C, L)
    path = save_audio(args.output, out, sr)
    channels = "mono" if out.shape[0] == 1 else f"{out.shape[0]} channels"
    print(f"wrote {path} ({out.shape[-1] / sr:.2f} s at {sr} Hz, {channels})")


def _train(args) -> None:
    """``lassnet train``. A mistake in the command (a bad config, an unknown or absent
    device, ``--out`` a file) ends with one line and status 2 (from :func:`main`); a run
    folder that cannot be used (read-only, full, in use by another run) with one line and
    status 1; Ctrl-C or SIGTERM with a checkpoint, one line and status 130."""
    from .train import Trainer, load_config
    from .train.state import describe_os_error

    overrides = {k: getattr(args, k) for k in ("steps", "batch_size", "seed", "num_workers",
                                               "loss", "precision")}
    cfg = load_config(args.config, **overrides)
    if args.query and args.query != cfg.query:  # another encoder: the file's options were not
        cfg = dataclasses.replace(cfg, query=args.query, query_options={})  # written for it
    if args.query_checkpoint:
        cfg = dataclasses.replace(
            cfg, query_options={**cfg.query_options, "checkpoint": args.query_checkpoint})
    out = Path(args.out or f"runs/{cfg.name}")
    print(f"training {cfg.name}: preset {cfg.preset}, query {cfg.query}, {cfg.steps} steps "
          f"-> {out}", file=sys.stderr)
    try:
        summary = Trainer(cfg, out, device=args.device).fit()
    except KeyboardInterrupt:
        print(f"stopped; the last checkpoint is in {out}; run the same command to resume",
              file=sys.stderr)
        raise SystemExit(130) from None
    except FileNotFoundError:
        raise  # a missing input, e.g. a dataset's file: main() reports it (status 2)
    except OSError as err:
        print(f"lassnet train: error: {describe_os_error(err)}", file=sys.stderr)
        raise SystemExit(1) from None
    print(json.dumps(summary, indent=2))


def _evaluate(args) -> None:
    from .data import ESC50, DownloadError
    from .evaluate import evaluate_model
    from .files import check_writable, write_text
    from .model import LASSModel
    from .paths import shipped_model

    # Everything the command line can get wrong is refused before the model is loaded.
    dataset = args.dataset.lower().replace("-", "").replace("_", "")
    if args.out:
        try:
            check_writable(args.out)
        except OSError as err:
            raise UserError(f"--out: {err}") from None
    if args.data_root and dataset not in ("esc50", "folder"):
        raise UserError(f"--data-root applies to --dataset esc50 or folder, not {args.dataset}")
    if args.download and dataset != "esc50":
        raise UserError(f"--download applies to --dataset esc50, not {args.dataset}")
    if dataset == "folder" and not args.data_root:
        raise UserError("--dataset folder needs --data-root <folder of clips with a CSV>")
    options = {"root": args.data_root} if args.data_root else {}
    if dataset == "esc50":
        meta = ESC50.metadata_path(args.data_root)
        if not meta.is_file():
            root = meta.parents[2]
            if not args.download:
                raise UserError(f"ESC-50 is not in {root} (no {meta}); add --download to fetch "
                                "it there (about 600 MB)")
            try:
                check_writable(root / "ESC-50-master.zip")
            except OSError as err:
                raise UserError(f"--data-root: {err}") from None
        options["download"] = args.download

    model = LASSModel.load(args.checkpoint or shipped_model())
    try:
        report = evaluate_model(model, count=args.count, seed=args.seed,
                                duration=args.duration, wrong_query=not args.no_wrong_query,
                                dataset=args.dataset, **options)
    except DownloadError as err:
        raise UserError(str(err)) from None
    print(report.to_text())
    if args.out:
        try:
            write_text(args.out, json.dumps(report.to_dict(), indent=2))
        except OSError as err:  # e.g. the disk filled up meanwhile; the table is printed above
            raise UserError(f"cannot write {args.out}: {err.strerror or err}") from None
        print(f"wrote {args.out}")


def _train_query(args) -> None:
    from . import train_query

    train_query.main(args.rest)


def _info(args) -> None:
    import torch

    from . import __version__, settings
    from .paths import SHIPPED_MODEL, data_dir
    from .separator import PRESETS, SeparationNet
    from .train import available_configs

    print(f"lassnet {__version__}   fast switch LASSNET_FAST={'on' if settings.fast() else 'off'}")
    print("\nseparator presets (parameters with a 512-d / 384-d query):")
    with torch.device("meta"):  # counts without allocating (the large preset is 91 M)
        for name in PRESETS:
            a = SeparationNet.from_preset(name, condition_dim=512)
            b = SeparationNet.from_preset(name, condition_dim=384).num_parameters()
            c = a.config
            print(f"  {name:9s} {a.num_parameters():>12,} / {b:>12,}   {c.sample_rate} Hz, "
                  f"n_fft {c.n_fft}, hop {c.hop_length}, "
                  f"channels {'-'.join(map(str, c.channels))}")
    try:
        from .query import available as encoders
        names = ", ".join(encoders())
    except ImportError:
        names = "(lassnet.query unavailable)"
    print(f"\nquery encoders: {names}")
    print(f"training configs: {', '.join(available_configs())}")
    shipped = data_dir() / SHIPPED_MODEL
    print(f"shipped model: {shipped} ({'present' if shipped.is_file() else 'missing'})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lassnet", description="Language-queried audio "
                                     "source separation.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("separate", help="extract the sound a query describes from a file")
    p.add_argument("input", help="audio file (any rate; every channel is separated)")
    p.add_argument("--query", "-q", help='text query, e.g. "a siren wailing"')
    p.add_argument("--query-audio", help="an audio clip of the wanted sound, as the query")
    p.add_argument("--output", "-o", required=True, help="where to write the separated sound")
    p.add_argument("--checkpoint", "-c", help="model checkpoint (default: the shipped model)")
    p.add_argument("--chunk-seconds", type=float, default=10.0)
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default="auto",
                   help="the U-Net's arithmetic; auto: whichever is faster on this machine")
    p.set_defaults(func=_separate)

    p = sub.add_parser("train", help="train a separator from a config")
    p.add_argument("--config", default="tiny-cpu", help="config name or YAML path")
    p.add_argument("--out", help="run folder (default runs/<config name>); resumes if present")
    p.add_argument("--steps", type=int, help="train until this step (a finished run extends)")
    p.add_argument("--batch-size", type=int, help="mixtures per step (per process)")
    p.add_argument("--seed", type=int)
    p.add_argument("--num-workers", type=int, help="data-loading processes")
    p.add_argument("--loss", choices=["l1", "neg_sdr", "snr"],
                   help="l1 (AudioSep's) or neg_sdr (the per-example negative SDR; "
                   "snr is its earlier name)")
    p.add_argument("--query", help="query encoder name (e.g. minilm, clap)")
    p.add_argument("--query-checkpoint", help="the query encoder's checkpoint file (clap)")
    p.add_argument("--precision", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="the evaluation protocol on a test split")
    p.add_argument("--checkpoint", "-c", help="model checkpoint (default: the shipped model)")
    p.add_argument("--count", "--targets", type=int, default=56,
                   help="number of target draws (56 = each of the 14 classes 4 times)")
    p.add_argument("--duration", "--seconds", type=float, default=2.0,
                   help="mixture length in seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-wrong-query", action="store_true", help="skip the wrong-query control")
    p.add_argument("--dataset", default="synthetic",
                   help="synthetic (default), esc50 (fold 5) or folder (with --data-root)")
    p.add_argument("--data-root", help="where the dataset lies (ESC-50's cache folder, or the "
                   "folder of clips with its CSV)")
    p.add_argument("--download", action="store_true",
                   help="fetch ESC-50 into --data-root (or the cache folder) if it is not there "
                   "(about 600 MB, checksummed; an interrupted download resumes)")
    p.add_argument("--out", help="also write the report as JSON here (checked before the run)")
    p.set_defaults(func=_evaluate)

    # every argument, options included, goes to python -m lassnet.train_query: with "-" not a
    # prefix here, argparse cannot take "--out" for an option of this sub-parser
    p = sub.add_parser("train-query", help="train the audio encoder aligned to MiniLM",
                       add_help=False, prefix_chars="+")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_train_query)

    p = sub.add_parser("info", help="presets, sizes, encoders, configs")
    p.set_defaults(func=_info)
    return parser


def main(argv=None) -> int:
    from .checkpoint import CheckpointError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (UserError, CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"lassnet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

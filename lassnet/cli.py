"""The ``lassnet`` command: ``separate``, ``train``, ``evaluate``, ``train-query``, ``info``.

User mistakes (a missing file, unreadable audio, an empty query, an unknown preset, an
output path or format that cannot be written) end with one line on stderr and exit status 2 —
never a traceback; ``separate`` checks every path before it loads the model. Failures of the
system (a full disk, a read-only file system) are one line and status 1, Ctrl-C is one line
and status 130 (SIGTERM during ``separate``: 143), and warnings print as one line. Nothing
half-written is left: ``separate`` streams into a temporary file renamed into place only when
complete, so ``-o`` may even name the input.

    lassnet separate mix.wav --query "a siren wailing" -o siren.wav
    lassnet separate mix.wav -q "a dog barking" -o dog.wav --audiosep SEP.ckpt --clap CLAP.pt
    lassnet train --config tiny-cpu --out runs/tiny-cpu
    lassnet evaluate --checkpoint runs/tiny-cpu/model.pt --count 14
    lassnet evaluate --audiosep SEP.ckpt --clap CLAP.pt --audiosep-list esc50_eval.csv \
        --data-root ESC-50-master/audio
    lassnet info
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import warnings
from pathlib import Path

__all__ = ["main"]


class UserError(Exception):
    """A mistake in the command line, reported in one line (exit status 2)."""


class SystemFault(Exception):
    """The system failed the command (a full disk, a read-only folder): one line, status 1."""


class Stopped(Exception):
    """The command was stopped by a signal: one line, exit status ``code`` (130 for Ctrl-C)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def _separate(args) -> None:
    from .audio import AudioError, audio_info, load_audio, output_format
    from .model import LASSModel, check_chunking

    # Everything that can be checked is checked before the model loads or anything runs.
    if args.query is not None and args.query_audio is not None:
        raise UserError("give one query: --query (text) or --query-audio (a clip), not both")
    if args.query is None and args.query_audio is None:
        raise UserError("give a text query (--query) or an audio query (--query-audio)")
    if args.query is not None and not args.query.strip():
        raise UserError("the query is empty")
    info = audio_info(args.input)  # AudioError: missing, folder, not a file, not audio
    if info.frames <= 0:
        raise AudioError(args.input, "the file holds no audio samples (empty)")
    output_format(args.output, args.subtype, like=info.subtype)  # before any work
    check_chunking(args.chunk_seconds, 1.0)
    _check_audiosep_args(args)
    if args.audiosep and args.query_encoder is not None:
        raise UserError("--query-encoder does not apply with --audiosep: AudioSep's CLAP "
                        "(--clap) embeds the query")
    encoder = _query_encoder(args)
    query, query_sr = args.query, None
    if args.query_audio is not None:
        query, query_sr = load_audio(args.query_audio, mono=True)
        query = query[0]
    if _same_file(args.input, args.output):
        _note("-o is the input file: it is replaced only once the separation is complete")

    model = _load_model(args)
    precision = args.precision or getattr(model, "precision", "auto")
    if encoder is None and args.query_audio is not None and model.query_name == "minilm":
        encoder = "minilm-audio"
        _note("--query-audio: the model's 'minilm' encoder takes text only, so its audio "
              "tower, aligned to MiniLM, embeds the clip (--query-encoder minilm-audio)")
    if encoder is not None and encoder != model.query_name:
        options = {}  # another encoder's options (a CLAP checkpoint) do not carry over
        model = LASSModel(model.separator, None, encoder, options)
    if args.query_audio is not None and not model.encoder.supports_audio:
        raise UserError(f"the {model.query_name!r} query encoder takes text only; choose one "
                        "that listens with --query-encoder (e.g. clap for a CLAP model)")
    stop = _StopOnSigterm()
    try:
        with stop:
            written = model.separate_file(
                args.input, args.output, query, query_sample_rate=query_sr,
                subtype=args.subtype, chunk_seconds=args.chunk_seconds,
                precision=precision)
    except KeyboardInterrupt:
        why = "terminated (SIGTERM)" if stop.fired else "interrupted (Ctrl-C)"
        raise Stopped(143 if stop.fired else 130, f"{why}; nothing was written") from None
    except OSError as err:  # a full disk, a file system turned read-only, ...
        raise SystemFault(f"cannot write {args.output}: {err.strerror or err}; nothing was "
                          "written") from None
    channels = "mono" if written.channels == 1 else f"{written.channels} channels"
    print(f"wrote {args.output} ({written.frames / written.samplerate:.2f} s at "
          f"{written.samplerate} Hz, {channels}, {written.subtype})")


def _check_audiosep_args(args) -> None:
    """``--audiosep`` and ``--clap`` come together, name files, and exclude ``--checkpoint``;
    one line (status 2) otherwise, before anything is loaded."""
    if bool(args.audiosep) != bool(args.clap):
        given, missing = ("--audiosep", "--clap") if args.audiosep else ("--clap", "--audiosep")
        raise UserError(f"{given} needs {missing} too: AudioSep's separator "
                        "(audiosep_base_4M_steps.ckpt) and its CLAP "
                        "(music_speech_audioset_epoch_15_esc_89.98.pt) go together")
    if not args.audiosep:
        return
    if args.checkpoint:
        raise UserError("give one model: --checkpoint or --audiosep/--clap, not both")
    for flag, path in (("--audiosep", args.audiosep), ("--clap", args.clap)):
        if not Path(path).expanduser().is_file():
            raise UserError(f"{flag}: {path} is not a file (lassnet.pretrained.fetch_audiosep() "
                            "downloads both files)")


def _load_model(args):
    """The model the command runs: AudioSep's (``--audiosep``/``--clap``), a checkpoint, or
    the shipped model."""
    from .model import LASSModel
    from .paths import shipped_model

    if args.audiosep:
        return LASSModel.from_audiosep(args.audiosep, args.clap,
                                       precision=args.precision or "float32",
                                       clap_model=args.clap_model)
    return LASSModel.load(args.checkpoint or shipped_model())


def _query_encoder(args) -> str | None:
    """``--query-encoder``, checked against the names lassnet knows (``None`` if not given)."""
    if args.query_encoder is None:
        return None
    from .query import _normalise_name, available

    name = _normalise_name(args.query_encoder)
    if name not in available():
        raise UserError(f"unknown query encoder {args.query_encoder!r}; choose one of "
                        f"{', '.join(available())}")
    return name


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve() or Path(a).samefile(b)
    except OSError:
        return False


def _note(text: str) -> None:
    print(f"lassnet: note: {text}", file=sys.stderr)


class _StopOnSigterm:
    """While active, SIGTERM raises ``KeyboardInterrupt`` (as Ctrl-C does), so that the
    temporary output file is removed on the way out; ``fired`` tells which it was."""

    def __init__(self):
        self.fired = False
        self._old = None

    def _handler(self, signum, frame):
        self.fired = True
        raise KeyboardInterrupt

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGTERM, self._handler)
        except ValueError:  # not the main thread: leave signals alone
            self._old = None
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


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
    if args.init_from:
        cfg = dataclasses.replace(cfg, init_from=args.init_from)
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

    # Everything the command line can get wrong is refused before the model is loaded.
    dataset = args.dataset.lower().replace("-", "").replace("_", "")
    if args.out:
        try:
            check_writable(args.out)
        except (OSError, ValueError) as err:
            raise UserError(f"--out: {err}") from None
    _check_audiosep_args(args)
    if args.audiosep_list:
        _evaluate_audiosep_list(args)
        return
    for flag, value in (("--limit", args.limit), ("--precision", args.precision)):
        if value is not None:
            raise UserError(f"{flag} applies to --audiosep-list")
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
            except (OSError, ValueError) as err:
                raise UserError(f"--data-root: {err}") from None
        options["download"] = args.download

    model = _load_model(args)
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


def _evaluate_audiosep_list(args) -> None:
    """``lassnet evaluate --audiosep-list CSV --data-root DIR``: AudioSep's ESC-50 protocol
    (:func:`lassnet.evaluate.evaluate_audiosep_list`)."""
    from .evaluate import evaluate_audiosep_list, read_audiosep_list
    from .files import write_text

    if args.dataset != "synthetic" or args.download:
        raise UserError("--audiosep-list reads its own list: leave out --dataset and --download")
    if not args.data_root:
        raise UserError("--audiosep-list needs --data-root: the folder of AudioSep's evaluation "
                        "files (mixture-<idx>.wav, segment-<idx>.wav) or ESC-50's audio/ folder")
    if not Path(args.data_root).expanduser().is_dir():
        raise UserError(f"--data-root: {args.data_root} is not a folder")
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be a positive number of mixtures, got {args.limit}")
    read_audiosep_list(args.audiosep_list)  # a wrong list is refused before the model loads
    model = _load_model(args)
    report = evaluate_audiosep_list(model, args.audiosep_list, args.data_root,
                                    limit=args.limit, precision=args.precision)
    print(report.to_text())
    if args.out:
        try:
            write_text(args.out, json.dumps(report.to_dict(), indent=2))
        except OSError as err:
            raise UserError(f"cannot write {args.out}: {err.strerror or err}") from None
        print(f"wrote {args.out}")


def _add_audiosep_options(p) -> None:
    p.add_argument("--audiosep", metavar="SEP.ckpt", help="AudioSep's released separator "
                   "(audiosep_base_4M_steps.ckpt) instead of a lassnet model; with --clap")
    p.add_argument("--clap", metavar="CLAP.pt", help="AudioSep's CLAP query encoder "
                   "(music_speech_audioset_epoch_15_esc_89.98.pt); with --audiosep")
    p.add_argument("--clap-model", default="HTSAT-base",
                   help="CLAP's audio tower (default HTSAT-base, AudioSep's)")


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
    p.add_argument("input", help="audio file (any rate, any length: it is streamed; every "
                   "channel is separated)")
    p.add_argument("--query", "-q", help='text query, e.g. "a siren wailing"')
    p.add_argument("--query-audio", help="an audio clip of the wanted sound, as the query")
    p.add_argument("--query-encoder", help="the query encoder to embed the query with "
                   "(default: the model's; minilm-audio for --query-audio with a minilm model)")
    p.add_argument("--output", "-o", required=True, help="where to write the separated sound "
                   "(format from the extension: .wav, .flac, .ogg, ...)")
    p.add_argument("--subtype", help="sample format of the output, e.g. FLOAT, PCM_24, PCM_16 "
                   "(default: the input's where the format takes it, else the format's own)")
    p.add_argument("--checkpoint", "-c", help="model checkpoint (default: the shipped model)")
    p.add_argument("--chunk-seconds", type=float, default=10.0,
                   help="separated in chunks of this length (at least 0.5), cross-faded")
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16"],
                   help="the U-Net's arithmetic; auto: whichever is faster on this machine "
                   "(default: auto; float32, AudioSep's own, with --audiosep)")
    _add_audiosep_options(p)
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
    p.add_argument("--init-from", help="fine-tune: start from this model file or AudioSep "
                   "checkpoint (.ckpt) instead of random weights")
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16", "float16"])
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
    _add_audiosep_options(p)
    p.add_argument("--audiosep-list", metavar="CSV", help="run AudioSep's ESC-50 evaluation "
                   "from its list (evaluation/metadata/esc50_eval.csv in its repository) on the "
                   "clips in --data-root; prints SDRi and SI-SDR as AudioSep computes them")
    p.add_argument("--limit", type=int, help="with --audiosep-list: the first N mixtures only")
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16"],
                   help="with --audiosep-list: the U-Net's arithmetic (default float32)")
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


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as one line on stderr, without the source line Python shows."""
    text = " ".join(str(message).split())
    print(f"lassnet: warning: {text}", file=sys.stderr if file is None else file)


def main(argv=None) -> int:
    """Run the ``lassnet`` command; returns the exit status.

    0: done; 2: a mistake in the command or its inputs (one line); 1: the system failed
    (a full disk, a read-only folder: one line); 130: Ctrl-C. Warnings print as one line.
    """
    from .checkpoint import CheckpointError

    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        try:
            args.func(args)
        except (UserError, CheckpointError, FileNotFoundError, ValueError) as exc:
            print(f"lassnet {args.command}: error: {exc}", file=sys.stderr)
            return 2
        except SystemFault as exc:
            print(f"lassnet {args.command}: error: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:  # a full disk, a read-only file system, no permission
            text = exc.strerror or str(exc)
            if exc.filename and str(exc.filename) not in text:
                text += f": {exc.filename}"
            print(f"lassnet {args.command}: error: {text}", file=sys.stderr)
            return 1
        except Stopped as exc:
            print(f"lassnet {args.command}: {exc}", file=sys.stderr)
            return exc.code
        except KeyboardInterrupt:
            print(f"lassnet {args.command}: interrupted", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

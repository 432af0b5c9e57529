"""Compare changes to a training recipe: short runs of a config, each scored by the protocol.

    python benchmarks/ablate.py                                   # the film_gamma trial
    python benchmarks/ablate.py --steps 800 --parallel 4 \\
        --variant 'beta only={"separator": {"film_gamma": false}}' \\
        --variant 'lr 2e-3={"lr": 0.002}' --variant '3-5 interferers={"min_interferers": 3}'

Every variant is the config (``tiny-cpu`` by default) with ``--steps`` steps, a cosine
cool-down over the second half, no validation, and the JSON overrides given (a ``separator``
dict is merged into the config's). Variants run as separate processes, ``--parallel`` at a
time, each on one thread; the table gives the protocol's mean and median SI-SDRi, the worst
class, the wrong-query control and the training seconds. Short runs rank changes; they do
not predict the full run's score.

Every variant is also scored on the out-of-recipe corpus (chapter 9: other sound models of the
same classes through a recording chain, queried with that corpus's captions, then with the
training captions), and each variant after the first is compared with the first mixture by
mixture (the mean difference and its bootstrap 95 % interval). ``--keep DIR`` keeps each
variant's run folder.

``--json PATH`` also writes the results (atomically, :func:`lassnet.files.write_text`): the
variants and their overrides, the steps, each variant's resolved training config, every
score above plus the confidence interval of the mean and the per-class means, and where it
ran (CPU model from ``/proc/cpuinfo``, cores, torch version, date). Chapter 4 reads
``benchmarks/results/label_ablation.json``, written by

    python benchmarks/ablate.py --steps 800 --parallel 2 \\
        --variant 'minilm={"query": "minilm"}' \\
        --variant 'label={"query": "label", "query_options": {"dim": 384}}' \\
        --json benchmarks/results/label_ablation.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DEFAULT_VARIANTS = [
    'beta only (AudioSep)={"separator": {"film_gamma": false}}',
    'beta and gamma={"separator": {"film_gamma": true}}',
]


def run_variant(config: str, steps: int, overrides: dict, out: Path) -> dict:
    """Train one variant in ``out`` and evaluate it (runs in this process). Returns the
    scores (SI-SDRi, dB), the per-class means, the training seconds and the resolved config."""
    from lassnet.evaluate import evaluate_model
    from lassnet.model import LASSModel
    from lassnet.train import Trainer, load_config

    overrides = dict(overrides)
    separator = overrides.pop("separator", {})
    base = dict(steps=steps, warmup_steps=min(100, steps // 8), decay_steps=steps // 2,
                validate_every=10**9, threads=1, num_workers=0)
    cfg = load_config(config, **(base | overrides))
    cfg.separator = {**cfg.separator, **separator}
    start = time.perf_counter()
    Trainer(cfg, out, progress=False).fit()
    seconds = time.perf_counter() - start
    model = LASSModel.load(out / "model.pt")
    report = evaluate_model(model, progress=False)
    per_class = report.per_class("model")
    worst = min(per_class, key=per_class.get)
    summary = report.summary("model")
    # the same protocol on sounds of the classes made by another synthesiser (chapter 9),
    # queried with that corpus's captions, then with the training captions
    from lassnet.data import CAPTIONS

    outside = evaluate_model(model, dataset="out-of-recipe", bss=False, progress=False)
    outside_words = evaluate_model(model, dataset="out-of-recipe", captions=CAPTIONS,
                                   bss=False, progress=False)
    return {
        "mean": summary["mean"],
        "median": summary["median"],
        "ci95": [summary["ci_low"], summary["ci_high"]],
        "n": summary["n"],
        "worst_class": worst,
        "worst": per_class[worst],
        "wrong_query": report.summary("wrong_query")["mean"],
        "train_s": seconds,
        "per_class": per_class,
        "per_class_wrong_query": report.per_class("wrong_query"),
        "per_mixture": _per_mixture(report),
        "out_of_recipe": outside.summary("model")["mean"],
        "out_of_recipe_training_captions": outside_words.summary("model")["mean"],
        "out_of_recipe_per_class": outside.per_class("model"),
        "out_of_recipe_per_mixture": _per_mixture(outside),
        "config": cfg.to_dict(),
    }


def _per_mixture(report) -> list[float]:
    """The model's SI-SDRi of every mixture, in the protocol's order (for paired
    comparisons between variants: the mixtures are the same for all)."""
    rows = sorted((r for r in report.rows if r["method"] == "model"), key=lambda r: r["index"])
    return [float(r["si_sdri"]) for r in rows]


def paired(a: list[float], b: list[float], draws: int = 10_000, seed: int = 0) -> tuple:
    """Mean of ``b - a`` over the same mixtures and its bootstrap 95 % interval
    (:func:`lassnet.evaluate.bootstrap_ci` of the differences)."""
    import numpy as np

    from lassnet.evaluate import bootstrap_ci

    d = np.asarray(b) - np.asarray(a)
    low, high = bootstrap_ci(d, n_boot=draws, seed=seed)
    return float(d.mean()), low, high


def results_document(args, variants: list, results: list) -> dict:
    """What ``--json`` writes: the command's settings, where it ran, and every variant."""
    import torch
    from _timing import cpu_name  # benchmarks/_timing.py, beside this file

    return {
        "benchmark": "benchmarks/ablate.py",
        "config": args.config,
        "steps": args.steps,
        "parallel": args.parallel,
        "threads_per_variant": 1,
        "metric": "SI-SDRi on chapter 8's protocol (lassnet.evaluate.evaluate_model), dB",
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(),
                    "torch": str(torch.__version__), "python": platform.python_version()},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "variants": [{"name": name, "overrides": overrides, **result}
                     for (name, overrides), (_, result) in zip(variants, results, strict=True)],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny-cpu")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--variant", action="append", metavar="NAME=JSON",
                        help="a named set of config overrides (repeatable)")
    parser.add_argument("--parallel", type=int, default=2, help="variants trained at once")
    parser.add_argument("--json", metavar="PATH", help="also write the results to PATH")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep each variant's run folder (model.pt, logs) in DIR/<name>")
    parser.add_argument("--child", nargs=2, metavar=("JSON", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one variant, in its own process
        result = run_variant(args.config, args.steps, json.loads(args.child[0]),
                             Path(args.child[1]))
        print(json.dumps(result))
        return
    variants = []
    for spec in args.variant or DEFAULT_VARIANTS:
        name, sep, overrides = spec.partition("=")
        if not sep:
            parser.error(f"--variant needs NAME=JSON, got {spec!r}")
        try:
            variants.append((name.strip(), json.loads(overrides)))
        except json.JSONDecodeError as err:
            parser.error(f"--variant {name!r}: not JSON ({err})")
    if args.json:
        from lassnet.files import check_writable

        try:
            check_writable(args.json)  # before the runs, not after them
        except (OSError, ValueError) as err:
            parser.error(f"--json {args.json}: {err}")

    with tempfile.TemporaryDirectory() as tmp:
        def child(item):
            i, (name, overrides) = item
            folder = Path(tmp) / f"v{i}"
            if args.keep:
                folder = Path(args.keep) / "".join(c if c.isalnum() or c in "-_." else "_"
                                                   for c in name)
            cmd = [sys.executable, __file__, "--config", args.config, "--steps", str(args.steps),
                   "--child", json.dumps(overrides), str(folder)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"variant {name!r} failed:\n{done.stderr[-2000:]}")
            return name, json.loads(done.stdout.strip().splitlines()[-1])

        print(f"{args.config}, {args.steps} steps per variant, {len(variants)} variants, "
              f"{args.parallel} at a time (SI-SDRi on the protocol, dB)")
        with ThreadPoolExecutor(args.parallel) as pool:
            results = list(pool.map(child, enumerate(variants)))
    print(f"{'variant':28s} {'mean':>6s} {'median':>6s}  {'worst class':>22s} "
          f"{'wrong query':>11s} {'out of recipe':>13s} {'(train capt.)':>13s} {'train s':>8s}")
    for name, r in results:
        worst = f"{r['worst_class']} {r['worst']:.1f}"
        print(f"{name:28s} {r['mean']:6.2f} {r['median']:6.2f}  "
              f"{worst:>22s} {r['wrong_query']:11.1f} {r['out_of_recipe']:13.2f} "
              f"{r['out_of_recipe_training_captions']:13.2f} {r['train_s']:8.0f}")
    first_name, first = results[0]
    for name, r in results[1:]:  # each variant against the first, mixture by mixture
        d, lo, hi = paired(first["per_mixture"], r["per_mixture"])
        print(f"{name} minus {first_name}: {d:+.2f} dB (paired 95 % interval {lo:+.2f} to "
              f"{hi:+.2f}) on the protocol")
    if args.json:
        from lassnet.files import write_text

        document = results_document(args, variants, results)
        write_text(args.json, json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

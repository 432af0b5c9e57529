"""The evaluation protocol (taught in chapter 8, "Evaluation").

The protocol of the student project this book grew from: choose N target classes at random;
for each, mix target clips with clips of 5 other classes (the corpus's fixed test split);
separate with the target's caption; score SDR and SI-SDR and their improvements over the
unprocessed mixture (SDRi, SI-SDRi). Beside the model, the same table is computed for

* the **mixture** itself (the floor: SDRi = SI-SDRi = 0 by definition),
* three **oracle masks** on the model's own STFT, computed from the true target: the ideal
  ratio mask, the phase-sensitive mask, and the amplitude mask with the ideal phase rotation
  (the best mask of AudioSep's form). They are references, not ceilings: none bounds what a
  separator can score, and they differ from each other by several dB;
* the **wrong query**: the caption of one of the interfering classes — a model that listens
  to its query must score clearly lower;
* the **query swap**: the same estimate (the first interferer's caption) scored against that
  interferer instead of the target: a model that listens to its query extracts what it was
  asked for, so this should score well, as the model's own row does.

The model, the oracle and the scores run on the separator's device (a CUDA model is
evaluated on its GPU); the report holds plain numbers and CPU waveforms. For reading a report:
:func:`active_fraction` (how sparse a sound is, for failure analysis) here, and the figures
:func:`lassnet.plot.plot_per_class` (a bar chart per class and method) and
:func:`lassnet.plot.plot_example` (spectrograms on one colour scale).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .checks import as_waveform
from .masks import (
    apply_masks,
    ideal_amplitude_mask,
    ideal_phase_rotation,
    ideal_ratio_mask,
    phase_sensitive_mask,
)
from .metrics import bss_eval, sdr, si_sdr
from .stft import magphase

if TYPE_CHECKING:
    from .model import LASSModel

__all__ = [
    "EvalReport",
    "evaluate_model",
    "oracle_irm",
    "oracle_separation",
    "oracle_masks",
    "ORACLES",
    "active_fraction",
    "bootstrap_ci",
    "AudioSepListReport",
    "audiosep_mix",
    "evaluate_audiosep_list",
    "read_audiosep_list",
]

METHODS = ("model", "oracle_irm", "oracle_psm", "oracle_iam_phase", "mixture", "wrong_query",
           "query_swap")
#: The oracle references every report carries, by method name (chapter 5 derives them).
ORACLES = ("oracle_irm", "oracle_psm", "oracle_iam_phase")


def oracle_separation(
    stft, mixture: torch.Tensor, target: torch.Tensor, kind: str = "irm"
) -> torch.Tensor:
    """Separate ``mixture (B, 1, L)`` with an oracle mask computed from the true ``target (B,
    1, L)`` on the STFT ``stft`` → ``(B, 1, L)``, on the device of the inputs (and of
    ``stft``'s window, which must match).

    ``kind``: ``"irm"`` (ideal ratio mask), ``"psm"`` (phase-sensitive mask) or
    ``"iam_phase"`` (the amplitude mask clipped to ``[0, 1]`` with the ideal phase rotation:
    the best mask of AudioSep's own form). They are references, not ceilings: none is an
    upper bound on what a separator can score.
    """
    X, S = stft(mixture), stft(target)
    if kind == "irm":
        return stft.inverse(X * ideal_ratio_mask(S, X), mixture.shape[-1])
    if kind == "psm":
        return stft.inverse(X * phase_sensitive_mask(S, X), mixture.shape[-1])
    if kind == "iam_phase":
        mag, cos, sin = magphase(X.real, X.imag)
        cos_p, sin_p = ideal_phase_rotation(S, X)
        out = apply_masks(mag, cos, sin, ideal_amplitude_mask(S, X), cos_p, sin_p)
        return stft.inverse_magphase(*out, length=mixture.shape[-1])
    raise ValueError(f"unknown oracle {kind!r}; choose irm, psm or iam_phase")


def oracle_irm(stft, mixture: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """:func:`oracle_separation` with the ideal ratio mask."""
    return oracle_separation(stft, mixture, target, "irm")


def oracle_masks(stft, mixture: torch.Tensor, target: torch.Tensor) -> dict[str, dict]:
    """The three oracle masks of :func:`oracle_separation` for ``mixture`` and ``target``
    ``(1, 1, L)`` (or ``(L,)``), for looking at them: ``{method: {"mask": (T, F),
    "angle": (T, F) or None, "estimate": (L,)}}`` with methods :data:`ORACLES`; ``mask`` is the
    magnitude mask, ``angle`` the phase rotation in radians (``None`` for the real masks IRM
    and PSM), ``estimate`` :func:`oracle_separation`'s waveform. On the CPU. Shown beside a
    trained model's masks in chapter 5 (Masks)."""
    x, s = (as_waveform(w, name, layouts=("L", "CL", "BCL"))
            for w, name in ((mixture, "mixture"), (target, "target")))
    if x.numel() != x.shape[-1] or s.numel() != s.shape[-1]:
        raise ValueError("oracle_masks takes one mono clip: mixture and target (L,) or "
                         "(1, 1, L); loop over a batch")
    x, s = x.reshape(1, 1, -1), s.reshape(1, 1, -1)
    if x.shape != s.shape:
        raise ValueError(f"target {tuple(s.shape)} and mixture {tuple(x.shape)} differ in "
                         "shape; pass the true sound of the same clip")
    device = stft.window.device
    x, s = x.to(device), s.to(device)
    X, S = stft(x), stft(s)  # (1, 1, T, F) complex
    cos_p, sin_p = ideal_phase_rotation(S, X)
    masks = {
        "oracle_irm": (ideal_ratio_mask(S, X), None),
        "oracle_psm": (phase_sensitive_mask(S, X), None),
        "oracle_iam_phase": (ideal_amplitude_mask(S, X), torch.atan2(sin_p, cos_p)),
    }
    return {
        name: {"mask": mask[0, 0].cpu(), "angle": None if angle is None else angle[0, 0].cpu(),
               "estimate": oracle_separation(stft, x, s, name[len("oracle_"):])[0, 0].cpu()}
        for name, (mask, angle) in masks.items()
    }


@dataclass
class EvalReport:
    """Scores per mixture and method, with per-class and overall summaries.

    ``rows``: one dict per (mixture, method) with ``label`` (the target's class), ``method``,
    ``sdr``, ``si_sdr``, ``sdri``, ``si_sdri`` (dB), and for the model BSS Eval's ``bss_sdr``,
    ``sir`` and ``sar``; ``query_swap`` rows are scored against the interferer asked for, whose
    class is their ``asked``.
    ``examples``: waveforms of the best and worst mixtures (by the model's SI-SDRi) for
    figures and listening.
    """

    rows: list[dict] = field(default_factory=list)
    sample_rate: int = 16000
    examples: dict = field(default_factory=dict)

    def scores(self, method: str = "model", metric: str = "si_sdri", label=None) -> list[float]:
        """``metric`` of every mixture of ``method`` (of class ``label``), in mixture order;
        rows without the metric (BSS Eval's are computed for the model only) are skipped."""
        return [r[metric] for r in self.rows
                if r["method"] == method and (label is None or r["label"] == label)
                and metric in r]

    @property
    def labels(self) -> list[str]:
        return sorted({r["label"] for r in self.rows})

    @property
    def methods(self) -> list[str]:
        return [m for m in METHODS if any(r["method"] == m for r in self.rows)]

    def summary(self, method: str = "model", metric: str = "si_sdri") -> dict:
        """``{"mean", "median", "min", "n", "ci_low", "ci_high"}`` of ``metric`` over all
        mixtures of ``method``; ``ci_*`` bound the bootstrap 95 % confidence interval of the
        mean (:func:`bootstrap_ci`)."""
        values = self.scores(method, metric)
        low, high = bootstrap_ci(values)
        return {"mean": statistics.fmean(values), "median": statistics.median(values),
                "min": min(values), "n": len(values), "ci_low": low, "ci_high": high}

    def interval(self, method: str = "model", metric: str = "si_sdri", label=None,
                 level: float = 0.95) -> tuple[float, float]:
        """Bootstrap confidence interval of the mean ``metric`` of ``method`` (over one class's
        mixtures with ``label``); see :func:`bootstrap_ci`."""
        return bootstrap_ci(self.scores(method, metric, label), level=level)

    def per_class(self, method: str = "model", metric: str = "si_sdri") -> dict[str, float]:
        """Mean ``metric`` per target class."""
        return {lab: statistics.fmean(self.scores(method, metric, lab)) for lab in self.labels}

    def table(self, metric: str = "si_sdri") -> list[dict]:
        """One row per class (and a final ``overall`` row): mean ``metric`` for every method."""
        rows = []
        for lab in self.labels:
            rows.append({"class": lab} | {m: statistics.fmean(self.scores(m, metric, lab))
                                          for m in self.methods})
        rows.append({"class": "overall (mean)"} | {m: self.summary(m, metric)["mean"]
                                                   for m in self.methods})
        rows.append({"class": "overall (median)"} | {m: self.summary(m, metric)["median"]
                                                     for m in self.methods})
        return rows

    def _model_ci(self, label: str, metric: str) -> str:
        """The model's bootstrap 95 % interval of the mean for one row of :meth:`table`
        (none for the median row)."""
        if label == "overall (median)":
            return "-"
        low, high = self.interval("model", metric, label=None if label.startswith("overall")
                                  else label)
        return f"{low:.1f} to {high:.1f}"

    def to_text(self, metric: str = "si_sdri") -> str:
        """A fixed-width table of :meth:`table`, for terminals and logs, with the model's
        bootstrap 95 % confidence interval per class (of the mean) in the last column, then
        the model's mean with its interval, and BSS Eval's SDR, SIR and SAR of its estimates
        where the report has them."""
        methods = self.methods
        width = max(13, *(len(m) + 1 for m in methods))
        ci = "model" in methods
        head = (f"{metric} (dB)".ljust(18) + "".join(f"{m:>{width}s}" for m in methods)
                + ("   model 95 % CI" if ci else ""))
        lines = [head, "-" * len(head)]
        for row in self.table(metric):
            line = row["class"].ljust(18) + "".join(f"{row[m]:{width}.2f}" for m in methods)
            if ci:
                line += f"   {self._model_ci(row['class'], metric):>14s}"
            lines.append(line)
        if ci:
            summary = self.summary("model", metric)
            lines.append(f"model: mean {metric} {summary['mean']:.2f} dB, 95 % confidence "
                         f"interval {summary['ci_low']:.2f} to {summary['ci_high']:.2f} dB "
                         f"(bootstrap over {summary['n']} mixtures)")
            if self.scores("model", "sir"):
                bss = {k: statistics.fmean(self.scores("model", k))
                       for k in ("bss_sdr", "sir", "sar")}
                lines.append(f"model, BSS Eval: SDR {bss['bss_sdr']:.2f} dB, SIR "
                             f"{bss['sir']:.2f} dB, SAR {bss['sar']:.2f} dB (mean; plain SDR "
                             f"{statistics.fmean(self.scores('model', 'sdr')):.2f} dB)")
        if "query_swap" in methods:
            lines.append("query_swap: each mixture asked for its first interferer's class, "
                         "scored against that interferer")
        return "\n".join(lines)

    def to_markdown(self, metric: str = "si_sdri") -> str:
        """:meth:`table` as a Markdown table, with the model's bootstrap 95 % confidence
        interval per row in the last column."""
        methods = self.methods
        ci = "model" in methods
        lines = ["| class | " + " | ".join(methods) + (" | model 95 % CI |" if ci else " |"),
                 "| --- |" + " ---: |" * (len(methods) + ci)]
        for row in self.table(metric):
            cells = [f"{row[m]:.1f}" for m in methods]
            if ci:
                cells.append(self._model_ci(row["class"], metric))
            lines.append(f"| {row['class']} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"sample_rate": self.sample_rate, "rows": self.rows,
                "summary": {m: {k: self.summary(m, k) for k in ("sdri", "si_sdri", "sdr",
                                                                  "si_sdr")}
                            for m in self.methods},
                "per_class_si_sdri": {m: self.per_class(m) for m in self.methods}}


def bootstrap_ci(values, level: float = 0.95, n_boot: int = 2000, seed: int = 0):
    """Percentile bootstrap confidence interval of the mean of ``values``: ``(low, high)``.

    Draws ``n_boot`` resamples of the values (with replacement, as many as there are), takes
    each one's mean, and returns the ``(1 − level)/2`` and ``(1 + level)/2`` quantiles of those
    means. Deterministic (``seed``). With few values (four mixtures per class) the interval
    is wide and itself uncertain: a reason to evaluate on more mixtures, not to ignore it.
    Taught in chapter 8 (Evaluation).
    """
    x = np.asarray(list(values), dtype=np.float64)
    if x.size == 0:
        raise ValueError("no values to bootstrap")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


@torch.no_grad()
def evaluate_model(
    model: LASSModel,
    count: int = 56,
    n_interferers: int = 5,
    duration: float = 2.0,
    seed: int = 0,
    wrong_query: bool = True,
    batch_size: int = 8,
    mixtures: Sequence[Mapping[str, Any]] | None = None,
    progress: bool = True,
    dataset: str = "synthetic",
    bss: bool = True,
    query_swap: bool | None = None,
    **dataset_options: Any,
) -> EvalReport:
    """Run the protocol on a :class:`~lassnet.model.LASSModel`.

    ``count`` target draws (every class once, in random order, before any repeats; 56 =
    each of the 14 classes 4 times), each mixed with clips of ``n_interferers`` other classes.
    ``mixtures`` may be given instead (items with ``mixture``, ``target``, ``caption``,
    ``label`` and ``interferer_labels``); by default they are drawn reproducibly from the
    test split of ``dataset``: the synthetic corpus's fixed test split, or a real dataset by
    its :func:`lassnet.data.clip_source` name (``"esc50"``: fold 5; ``"folder"``: the rows of
    the split; ``"out-of-recipe"``: :class:`~lassnet.data.OutOfRecipeClips`) with
    ``dataset_options`` such as ``root=``. Targets are queried with their clips' captions; the
    wrong query is a caption of the first interfering class, from the source's own captions
    when it has them (its ``captions`` attribute), else from :data:`lassnet.data.CAPTIONS`.
    With ``bss=True`` the model's rows also carry BSS Eval's ``bss_sdr``, ``sir`` and ``sar``
    (:func:`lassnet.metrics.bss_eval`; about a third of a second per 2-second mixture on a
    CPU).

    ``query_swap``: add the ``query_swap`` rows — each mixture asked for its first
    interferer's class, the estimate scored against that interferer (``sdri``/``si_sdri``
    relative to the mixture scored against it). It needs the interferers: mixtures drawn
    here keep them, given ``mixtures`` need an ``interferers`` ``(k, L)`` entry
    (:func:`lassnet.data.evaluation_mixtures` with ``return_sources=True``). It costs no
    extra separation when the wrong query runs (the same estimate, scored against another
    sound). ``None`` (the default): on whenever the mixtures keep their interferers.

    Each batch is moved to the separator's device, where the model, the oracle mask and the
    scores are computed; the report's numbers and example waveforms come back on the CPU.
    """
    from . import data

    sep = model.separator.eval()
    device = next(sep.parameters()).device
    sr = sep.config.sample_rate
    captions = dict(data.CAPTIONS)
    if mixtures is None:
        source = None
        if dataset != "synthetic" or dataset_options:
            source = data.clip_source(dataset, "test", sr, **dataset_options)
            for label, options in getattr(source, "captions", {}).items():  # its own words
                captions[label] = list(options)
            for record in getattr(source, "records", []):  # a real dataset's captions
                if len(record["labels"]) == 1:
                    captions.setdefault(record["labels"][0], [record["caption"]])
        mixtures = data.evaluation_mixtures(
            count=count, n_interferers=n_interferers, sample_rate=sr,
            duration=duration, seed=seed, source=source, return_sources=query_swap is not False,
        )
    mixtures = list(mixtures)
    has_sources = all(it.get("interferers") is not None for it in mixtures)
    if query_swap and not has_sources:
        raise ValueError(
            "query_swap=True needs each mixture's interferers: draw the mixtures with "
            "evaluation_mixtures(..., return_sources=True), or pass query_swap=False"
        )
    query_swap = has_sources if query_swap is None else bool(query_swap)
    report = EvalReport(sample_rate=sr)
    best = worst = None
    batches = range(0, len(mixtures), batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="evaluating", unit="batch")
    for start in batches:
        items = mixtures[start : start + batch_size]
        mix = torch.stack([it["mixture"] for it in items]).to(device)  # (b, 1, L)
        tgt = torch.stack([it["target"] for it in items]).to(device)  # (b, 1, L)
        est = {  # model.embed gives (b, D) on the separator's device
            "model": sep(mix, model.embed([it["caption"] for it in items])),
            **{name: oracle_separation(sep.stft, mix, tgt, name[len("oracle_"):])
               for name in ORACLES},
            "mixture": mix,
        }
        if wrong_query or query_swap:
            wrong = [_caption(captions, _labels(it["interferer_labels"])[0]) for it in items]
            asked = sep(mix, model.embed(wrong))
            if wrong_query:
                est["wrong_query"] = asked
        base_sdr, base_si = sdr(mix, tgt).flatten().cpu(), si_sdr(mix, tgt).flatten().cpu()
        decomposed = None
        if bss:
            decomposed = {k: v.flatten().cpu()
                          for k, v in bss_eval(est["model"].double(), tgt.double(),
                                               mix.double()).items()}
        for method, e in est.items():
            s, si = sdr(e, tgt).flatten().cpu(), si_sdr(e, tgt).flatten().cpu()
            for i, it in enumerate(items):
                row = dict(
                    index=start + i, label=it["label"], caption=it["caption"], method=method,
                    sdr=float(s[i]), si_sdr=float(si[i]), sdri=float(s[i] - base_sdr[i]),
                    si_sdri=float(si[i] - base_si[i]),
                )
                if method == "model" and decomposed is not None:
                    row.update(bss_sdr=float(decomposed["sdr"][i]),
                               sir=float(decomposed["sir"][i]),
                               sar=float(decomposed["sar"][i]))
                report.rows.append(row)
        if query_swap:  # the interferer asked for is the reference
            other = torch.stack([it["interferers"].reshape(-1, mix.shape[-1])[0]
                                 for it in items])[:, None].to(device)  # (b, 1, L)
            s, si = sdr(asked, other).flatten().cpu(), si_sdr(asked, other).flatten().cpu()
            s0, si0 = sdr(mix, other).flatten().cpu(), si_sdr(mix, other).flatten().cpu()
            for i, it in enumerate(items):
                report.rows.append(dict(
                    index=start + i, label=it["label"], caption=wrong[i], method="query_swap",
                    asked=_labels(it["interferer_labels"])[0], sdr=float(s[i]),
                    si_sdr=float(si[i]), sdri=float(s[i] - s0[i]),
                    si_sdri=float(si[i] - si0[i])))
        gains = (si_sdr(est["model"], tgt).flatten().cpu() - base_si).tolist()
        for i, gain in enumerate(gains):
            example = dict(score=gain, label=items[i]["label"], caption=items[i]["caption"],
                           mixture=mix[i, 0].cpu(), target=tgt[i, 0].cpu(),
                           estimate=est["model"][i, 0].cpu())
            if best is None or gain > best["score"]:
                best = example
            if worst is None or gain < worst["score"]:
                worst = example
    report.examples = {"best": best, "worst": worst}
    if not math.isfinite(report.summary()["mean"]):
        raise RuntimeError("evaluation produced non-finite scores")
    return report


def _caption(captions: dict, label: str) -> str:
    """The first caption of a class; a class name in words when none is known."""
    known = captions.get(label)
    return known[0] if known else label.replace("_", " ")


def _labels(value) -> list[str]:
    """Interferer labels as a list (datasets give a comma-separated string)."""
    return [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)


# --------------------------------------------------------------------------- analysis
def active_fraction(wave, sample_rate: int, threshold_db: float = -30.0,
                    frame_seconds: float = 0.032) -> torch.Tensor:
    """How much of the time a sound is *on*: the fraction of frames whose energy lies within
    ``threshold_db`` dB of the loudest frame of the same signal.

    ``wave``: ``(..., L)`` tensor or array, cut into non-overlapping frames of
    ``frame_seconds`` (a last partial frame is dropped unless it is the only one). Returns
    ``(...)`` in ``[0, 1]``: near 1 for a continuous sound (wind, hum), small for a sparse one
    (clock ticks, drops). A silent signal gives 0. Used in chapter 8's failure analysis.
    """
    x = as_waveform(wave, "wave", layouts=("...L",), dtype=torch.float64)
    if threshold_db >= 0:
        raise ValueError(f"threshold_db must be negative, got {threshold_db}")
    frame = max(1, int(round(frame_seconds * sample_rate)))
    n = max(1, x.shape[-1] // frame)
    if x.shape[-1] < frame:
        x = torch.nn.functional.pad(x, (0, frame - x.shape[-1]))
    energy = x[..., : n * frame].unflatten(-1, (n, frame)).square().sum(-1)  # (..., n)
    loudest = energy.amax(-1, keepdim=True)  # (..., 1)
    active = (energy >= loudest * 10 ** (threshold_db / 10)) & (loudest > 0)
    return active.to(torch.float64).mean(-1)



# --------------------------------------------------------------------------- AudioSep's list
#: AudioSep's evaluation rate: its ``ESC50Evaluator`` loads every clip at 32 kHz.
AUDIOSEP_EVAL_RATE = 32000
_AUDIOSEP_COLUMNS = ("idx", "caption", "src_wav", "noise_wav")


@dataclass
class AudioSepListReport:
    """Scores of :func:`evaluate_audiosep_list`, one row per line of AudioSep's list.

    ``rows``: dicts with ``idx``, ``caption``, ``mixed`` (``"released"``: AudioSep's own
    mixture file; ``"esc50"``: mixed here from the two ESC-50 clips), ``sdr_mixture``,
    ``sdr``, ``sdri``, ``si_sdr`` and ``si_sdri`` (dB).
    """

    rows: list[dict] = field(default_factory=list)
    sample_rate: int = AUDIOSEP_EVAL_RATE

    def summary(self) -> dict:
        """Means over the rows: ``sdri`` and ``si_sdr`` (the two numbers AudioSep reports,
        10.04 and 8.81 dB for its released model on ESC-50), and ``si_sdri``; ``n`` rows."""
        return {"n": len(self.rows),
                **{k: statistics.fmean(r[k] for r in self.rows)
                   for k in ("sdri", "si_sdr", "si_sdri")}}

    def to_text(self) -> str:
        """Two lines: what was evaluated, and the means as AudioSep prints them."""
        s = self.summary()
        kinds = sorted({r["mixed"] for r in self.rows})
        where = {"released": "AudioSep's released mixtures",
                 "esc50": "mixtures made here from ESC-50's clips"}
        return (f"AudioSep's ESC-50 list: {s['n']} mixtures at {self.sample_rate} Hz "
                f"({' and '.join(where[k] for k in kinds)})\n"
                f"ESC-50 Avg SDRi: {s['sdri']:.3f}, SISDR: {s['si_sdr']:.3f} "
                f"(SI-SDRi {s['si_sdri']:.3f}) dB")

    def to_dict(self) -> dict:
        return {"sample_rate": self.sample_rate, "rows": self.rows, "summary": self.summary()}


def read_audiosep_list(csv_path) -> list[dict]:
    """The rows of an AudioSep evaluation list (``evaluation/metadata/esc50_eval.csv``: a
    header ``idx,caption,src_wav,noise_wav`` and one line per mixture) as dicts.

    Raises ``ValueError`` naming the file for a missing file, another header or an empty
    list."""
    import csv
    from pathlib import Path

    path = Path(csv_path).expanduser()
    if not path.is_file():
        raise ValueError(f"AudioSep evaluation list {path} does not exist (it is "
                         "evaluation/metadata/esc50_eval.csv in AudioSep's repository)")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        if tuple(header[:4]) != _AUDIOSEP_COLUMNS:
            raise ValueError(f"{path}: expected the columns {','.join(_AUDIOSEP_COLUMNS)} of "
                             f"AudioSep's esc50_eval.csv, found {','.join(header) or 'none'}")
        rows = [dict(zip(_AUDIOSEP_COLUMNS, (v.strip() for v in line), strict=False))
                for line in reader if line]
    if not rows:
        raise ValueError(f"{path} lists no mixtures")
    return rows


def audiosep_mix(segment: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor,
                                                                       torch.Tensor]:
    """Mix one ESC-50 clip with its interferer by the rule of AudioSep's ``SegmentMixer``
    (``data/waveform_mixers.py``) with its random loudness offset fixed at 0 dB: the noise is
    divided by ``r = sqrt(mean(noise²) / max(mean(segment²), 1e-10))``, clamped to
    ``[0.02, 50]`` (its ``get_energy_ratio``), so that it has the segment's mean energy, and
    added; both are scaled by ``0.9 / peak`` when the mixture's peak exceeds 1.
    ``segment`` and ``noise``: ``(L,)``. Returns ``(mixture, segment)``."""
    energy_noise = noise.double().square().mean()
    energy_segment = segment.double().square().mean().clamp_min(1e-10)
    ratio = (energy_noise / energy_segment).sqrt().clamp(0.02, 50)
    mixture = segment + (noise / ratio).to(segment.dtype)
    peak = mixture.abs().max()
    if peak > 1:
        segment, mixture = segment * (0.9 / peak), mixture * (0.9 / peak)
    return mixture, segment


@torch.no_grad()
def evaluate_audiosep_list(
    model: LASSModel,
    csv_path,
    audio_root,
    *,
    limit: int | None = None,
    precision: str | None = None,
    progress: bool = True,
) -> AudioSepListReport:
    """AudioSep's ESC-50 evaluation (its ``evaluation/evaluate_esc50.py``) on ``model``.

    Each line of ``csv_path`` (AudioSep's ``esc50_eval.csv``: ``idx, caption, src_wav,
    noise_wav``) gives one mixture, separated with the line's ``caption`` (an ESC-50 class
    name such as ``"dog"``) as the text query, at 32 kHz. The mixture and the true source come
    from ``audio_root``:

    * ``mixture-{idx}.wav`` and ``segment-{idx}.wav`` when they are there: AudioSep's
      released evaluation data, what its script reads (the exact protocol);
    * otherwise ESC-50's own clips ``src_wav`` and ``noise_wav`` (its ``audio/`` folder),
      mixed by :func:`audiosep_mix`. AudioSep's repository does not hold the script that
      made its released mixtures, so these scores approximate its protocol rather than
      repeat it.

    Clips are read as mono and resampled to 32 kHz (AudioSep uses librosa's resampler, lassnet
    torchaudio's). The whole clip is separated by :meth:`LASSModel.separate` with
    ``precision`` (default: the model's :attr:`precision` when it has one, else
    ``"float32"``). Scored as AudioSep's ``utils.py`` scores: SDR by its ``calculate_sdr``
    (:func:`lassnet.metrics.sdr`), SDRi against the unprocessed mixture, SI-SDR by its
    ``calculate_sisdr`` (:func:`lassnet.metrics.si_sdr`, ε the float32 machine epsilon).
    ``limit`` evaluates the first lines only. Shows a progress bar. Taught in the chapter
    "From synthetic to real".

    Raises ``ValueError`` naming the file for a list or clip that is missing or unreadable.
    """
    from pathlib import Path

    from .audio import load_audio, pad_or_crop

    rows = read_audiosep_list(csv_path)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        rows = rows[:limit]
    root = Path(audio_root).expanduser()
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder: pass the folder of AudioSep's evaluation "
                         "files (mixture-<idx>.wav, segment-<idx>.wav) or ESC-50's audio/")
    if precision is None:
        precision = getattr(model, "precision", "float32")
    sr = AUDIOSEP_EVAL_RATE
    report = AudioSepListReport(sample_rate=sr)
    items = rows
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(rows, desc="AudioSep's ESC-50 list", unit="mixture")
    for row in items:
        idx, caption = row["idx"], row["caption"]
        released = root / f"mixture-{idx}.wav", root / f"segment-{idx}.wav"
        if all(p.is_file() for p in released):
            mixture = load_audio(released[0], sr, mono=True)[0][0]
            source = load_audio(released[1], sr, mono=True)[0][0]
            kind = "released"
        else:
            paths = [root / row.get(k, "") for k in ("src_wav", "noise_wav")]
            missing = [p for p in paths if not p.is_file()]
            if missing:
                raise ValueError(
                    f"line idx={idx} of the list: neither {released[0].name} nor "
                    f"{missing[0]} is in {root}; pass AudioSep's evaluation data folder or "
                    "ESC-50's audio/ folder"
                )
            source = load_audio(paths[0], sr, mono=True)[0][0]
            noise = pad_or_crop(load_audio(paths[1], sr, mono=True)[0][0], source.shape[-1])
            mixture, source = audiosep_mix(source, noise)
            kind = "esc50"
        length = min(mixture.shape[-1], source.shape[-1])
        mixture, source = mixture[:length], source[:length]
        estimate = torch.as_tensor(model.separate(mixture, sr, caption,
                                                  precision=precision)).float().cpu()
        base = float(sdr(mixture, source))
        value = float(sdr(estimate, source))
        si = float(si_sdr(estimate, source))
        report.rows.append(dict(
            idx=idx, caption=caption, mixed=kind, sdr_mixture=base, sdr=value,
            sdri=value - base, si_sdr=si, si_sdri=si - float(si_sdr(mixture, source)),
        ))
    return report

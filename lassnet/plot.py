"""Figures: spectrograms, time-frequency maps, separations, the corpus at a glance and
evaluation results (used from chapter 1 on).

Library code never opens windows: every function builds a ``matplotlib.figure.Figure``
directly (no ``pyplot`` state, safe with the Agg backend and in worker processes) and returns
it. In a notebook the returned figure displays itself; elsewhere call ``fig.savefig(path)``.

* :func:`spectrogram_db` computes a dB-scaled magnitude spectrogram ``(F, T)``.
* :func:`plot_spectrogram` draws one (time in s, frequency in Hz, colour in dB);
  :func:`shared_vmax` gives several of them one colour scale.
* :func:`plot_tf_map` draws any map on the STFT grid: a mask, a phase, a feature map
  (taught in chapter 1, "STFT").
* :func:`plot_separation` draws a :class:`~lassnet.model.Separation`: spectrograms and masks
  of one query's result (the introduction's demo).
* :func:`plot_film_shifts` and :func:`plot_feature_change` draw what FiLM does for two
  queries: every layer's shifts and scales, and one layer's feature maps (chapter 3, "FiLM").
* :func:`plot_mask_comparison` draws magnitude masks and phase rotations side by side: a
  trained model's and the oracles' (chapter 5, "Masks").
* :func:`plot_corpus` draws one clip of every class of a corpus in a grid.
* :func:`plot_similarity` draws a labelled matrix: cosine similarities between query
  embeddings, or a confusion matrix (taught in chapter 4, "QueryNet").
* :func:`plot_modality_map` draws text and audio query embeddings on one 2-D map (chapter 4,
  "QueryNet").
* :func:`plot_curves` draws a training run's loss and validation curves (taught in chapter 7,
  "Training").
* :func:`plot_example` and :func:`plot_per_class` draw an evaluation's spectrograms and its
  per-class scores (taught in chapter 8, "Evaluation").
* :func:`plot_per_class_comparison` draws the per-class scores of several evaluations side by
  side, e.g. in-recipe and out-of-recipe (taught in chapter 9, "From synthetic to real").

Figures sit at the top of the pipeline: this module reads the results of the others (a
:class:`~lassnet.model.Separation`, an :class:`~lassnet.evaluate.EvalReport`, a run's logs)
and nothing below imports it.
"""

from __future__ import annotations

import math
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from matplotlib import rc_context
from matplotlib.figure import Figure

from .checks import as_waveform
from .stft import STFT

if TYPE_CHECKING:  # for annotations only: figures sit above the model and the evaluation
    from .evaluate import EvalReport
    from .introspect import FiLMTrace
    from .model import Separation

__all__ = [
    "new_figure",
    "spectrogram_db",
    "plot_spectrogram",
    "shared_vmax",
    "plot_tf_map",
    "plot_separation",
    "plot_film_shifts",
    "plot_feature_change",
    "plot_mask_comparison",
    "plot_modality_map",
    "plot_example",
    "plot_per_class",
    "plot_corpus",
    "plot_similarity",
    "plot_curves",
    "plot_per_class_comparison",
]


def new_figure(**kwargs) -> Figure:
    """A ``matplotlib.figure.Figure`` (keyword arguments as its own) that displays itself in a
    notebook.

    Figures made without ``pyplot`` only render as images in Jupyter once the inline backend
    has registered its display hooks, which happens when ``pyplot`` is first imported; inside
    IPython this imports it once, so the first figure of a fresh kernel is an image too.
    """
    ipython = sys.modules.get("IPython")
    if ipython is not None and getattr(ipython, "get_ipython", lambda: None)() is not None:
        import matplotlib.pyplot  # noqa: F401  (registers the inline backend's display hooks)
    return Figure(**kwargs)


def _default_n_fft(sample_rate: int) -> int:
    """A power of two near 32 ms: 512 at 16 kHz, 1024 at 32 kHz."""
    return 2 ** max(6, int(round(math.log2(0.032 * sample_rate))))


def _as_mono_1d(wave) -> torch.Tensor:
    """A clip to draw, by :func:`lassnet.checks.as_waveform`'s contract: ``(L,)``, ``(C, L)``
    or ``(1, C, L)``; channels are averaged → ``(L,)`` on the CPU."""
    wave = as_waveform(wave, "wave", layouts=("L", "CL", "BCL")).cpu()
    if wave.dim() == 3:
        if wave.shape[0] != 1:
            raise ValueError(
                f"wave must have shape (1, C, L) for one clip, got {tuple(wave.shape)}"
            )
        wave = wave[0]
    return wave.mean(dim=0) if wave.dim() == 2 else wave  # (L,)


def spectrogram_db(
    wave,
    sample_rate: int,
    n_fft: int | None = None,
    hop_length: int | None = None,
    floor_db: float = -120.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitude spectrogram in dB relative to full scale.

    Args:
        wave: ``(L,)`` or ``(C, L)`` (channels are averaged), tensor or array.
        sample_rate: Hz.
        n_fft: FFT size (default about 32 ms: 512 at 16 kHz).
        hop_length: default ``n_fft // 4``.
        floor_db: lowest value returned (silence).

    Returns:
        ``(S, freqs, times)``: ``S`` of shape ``(F, T)`` in dB, where a full-scale sine reads
        about 0 dB; ``freqs`` ``(F,)`` in Hz; ``times`` ``(T,)`` in seconds (frame centres).
    """
    wave = _as_mono_1d(wave)
    n_fft = int(n_fft or _default_n_fft(sample_rate))
    hop = int(hop_length or n_fft // 4)
    if wave.numel() < n_fft // 2 + 1:
        wave = torch.nn.functional.pad(wave, (0, n_fft // 2 + 1 - wave.numel()))
    stft = STFT(n_fft, hop)
    mag = stft(wave[None, None]).abs()[0, 0].T  # (F, T)
    # A full-scale sine has peak |X| = sum(window) / 2.
    scale = float(stft.window.sum()) / 2
    spec = 20 * torch.log10(torch.clamp(mag / scale, min=10 ** (floor_db / 20)))
    freqs = stft.frequencies(sample_rate).numpy()
    times = np.arange(spec.shape[1]) * hop / sample_rate
    return spec.numpy(), freqs, times


def plot_spectrogram(
    wave,
    sample_rate: int,
    ax=None,
    *,
    n_fft: int | None = None,
    hop_length: int | None = None,
    db_range: float = 80.0,
    vmax: float | None = None,
    max_freq: float | None = None,
    title: str | None = None,
    colorbar: bool = True,
    cmap: str = "magma",
    figsize: tuple[float, float] = (7.0, 3.0),
) -> Figure:
    """Draw the spectrogram of ``wave`` (``(L,)`` or ``(C, L)``): time in s, frequency in Hz,
    colour in dB re full scale.

    The colour range spans ``db_range`` dB below ``vmax`` (default: the loudest bin, so that
    every plot uses its full range; pass the same ``vmax`` to compare several plots).
    ``ax``: draw into these axes (else a new figure is made). Returns the figure.
    """
    spec, freqs, times = spectrogram_db(wave, sample_rate, n_fft, hop_length)
    if ax is None:
        fig = new_figure(figsize=figsize, layout="constrained")
        ax = fig.add_subplot()
    fig = ax.figure
    top = float(spec.max()) if vmax is None else float(vmax)
    hop_s = (times[1] - times[0]) if len(times) > 1 else 0.0
    df = freqs[1] - freqs[0]
    image = ax.imshow(
        spec,
        origin="lower",
        aspect="auto",
        cmap=cmap,
        vmin=top - db_range,
        vmax=top,
        extent=(times[0] - hop_s / 2, times[-1] + hop_s / 2, -df / 2, freqs[-1] + df / 2),
        interpolation="nearest",
    )
    ax.set_ylim(0, max_freq if max_freq is not None else freqs[-1])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title)
    if colorbar:
        fig.colorbar(image, ax=ax, label="dB")
    return fig


def shared_vmax(
    waves,
    sample_rate: int,
    *,
    n_fft: int | None = None,
    hop_length: int | None = None,
) -> float:
    """The loudest bin, in dB re full scale, over the spectrograms of several waves.

    Pass it as ``vmax=`` to every :func:`plot_spectrogram` of a figure so that the panels
    share one colour scale: a bin that is darker in one panel is quieter there. ``waves``: a
    sequence of waves (``(L,)`` or ``(C, L)``, tensors or arrays) or a mapping whose values are
    waves; ``n_fft`` / ``hop_length`` as in :func:`spectrogram_db` (use the ones the panels
    use). Used from chapter 1 on.
    """
    waves = list(waves.values()) if isinstance(waves, Mapping) else list(waves)
    if not waves:
        raise ValueError("waves must hold at least one wave")
    return max(
        float(spectrogram_db(w, sample_rate, n_fft, hop_length)[0].max()) for w in waves
    )


def plot_tf_map(
    values,
    sample_rate: int,
    hop_length: int,
    ax=None,
    *,
    n_fft: int | None = None,
    title: str | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    colorbar_label: str | None = None,
    max_freq: float | None = None,
    figsize: tuple[float, float] = (7.0, 3.0),
) -> Figure:
    """Draw a map ``values (T, F)`` on an STFT grid: time (s) across, frequency (Hz) up.

    For anything with one value per time-frequency bin: masks, phases, feature maps. Frame
    ``t`` is centred at ``t · hop_length / sample_rate`` seconds and bin ``f`` at
    ``f · sample_rate / n_fft`` Hz, each cell one hop wide and one bin high (the convention of
    :func:`plot_spectrogram`, so a map and a spectrogram of the same STFT line up).

    Args:
        values: ``(T, F)`` tensor or array of finite numbers (frames × bins, as
            :class:`lassnet.stft.STFT` lays them out).
        sample_rate, hop_length: of the STFT (Hz, samples).
        ax: draw into these axes (else a new figure of ``figsize`` is made).
        n_fft: the FFT size, which sets the bin spacing; default ``2·(F − 1)``, right for a
            whole one-sided spectrum. Give it for a map with fewer bins (a cropped one).
        title, cmap, colorbar, colorbar_label: as usual.
        vmin, vmax: colour range (default: the map's minimum and maximum).
        max_freq: top of the frequency axis in Hz (default: the top bin's centre).

    Returns the figure. Raises ``ValueError`` for values that are not a finite 2-D map, or
    a map of one bin without ``n_fft``. Taught in chapter 1 (STFT); used for the masks of
    chapters 3 and 5 and the introduction's demo.
    """
    m = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if m.ndim != 2 or 0 in m.shape:
        raise ValueError(
            f"values must be a 2-D (frames, bins) map, got shape {m.shape}; "
            "for an STFT output (B, C, T, F) pass one map, e.g. x[0, 0]"
        )
    if not np.issubdtype(m.dtype, np.number) or np.iscomplexobj(m) or not np.isfinite(m).all():
        raise ValueError("values must hold finite real numbers (take .abs() of a complex STFT)")
    frames, bins = m.shape
    if n_fft is None:
        if bins < 2:
            raise ValueError("a map of one bin has no bin spacing: pass n_fft")
        n_fft = 2 * (bins - 1)
    dt = hop_length / sample_rate  # seconds per frame
    df = sample_rate / n_fft  # Hz per bin
    if ax is None:
        fig = new_figure(figsize=figsize, layout="constrained")
        ax = fig.add_subplot()
    fig = ax.figure
    image = ax.imshow(
        m.T,  # (F, T): frequency up
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        extent=(-dt / 2, (frames - 0.5) * dt, -df / 2, (bins - 0.5) * df),
    )
    ax.set_ylim(0, max_freq if max_freq is not None else (bins - 1) * df)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title)
    if colorbar:
        fig.colorbar(image, ax=ax, label=colorbar_label)
    return fig


def _pretty(label: str) -> str:
    return label.replace("_", " ")


_FONT_SIZE = 8.5  # the separation figure is 10.5 in wide and is shown about 7 in wide


def plot_separation(result: Separation, db_range: float = 80.0) -> Figure:
    """The picture of one :class:`~lassnet.model.Separation` (:meth:`LASSModel.inspect
    <lassnet.model.LASSModel.inspect>`), two rows of panels.

    Top: mixture, estimate and (if known) reference spectrograms, on one colour scale
    (:func:`shared_vmax`). Bottom: the predicted magnitude mask ``M``, the oracle ideal ratio
    mask (if the reference is known) and the phase-mask angle ``∠P``, by
    :func:`plot_tf_map`. Returns the figure. Taught in the introduction (the demo).
    """
    sr = result.sample_rate
    waves = [("mixture\n" + result.mixture_label, result.mixture)]
    scores = result.scores
    title = f"estimate for “{result.query}”"
    if scores is not None:
        title += f"\nSI-SDR {scores['estimate']:.1f} dB (mixture: {scores['mixture']:.1f} dB)"
    waves.append((title, result.estimate))
    if result.reference is not None:
        name = _pretty(result.reference_label) if result.reference_label else "the target"
        waves.append((f"reference\n{name}", result.reference))
    top = shared_vmax([w for _, w in waves], sr)
    with rc_context({"font.size": _FONT_SIZE, "axes.titlesize": _FONT_SIZE + 0.5}):
        fig = new_figure(figsize=(10.5, 6.0), layout="constrained")
        _draw_separation(fig, result, waves, top, db_range)
    return fig


def _draw_separation(fig: Figure, result: Separation, waves, top: float, db_range: float):
    sr, hop = result.sample_rate, result.hop_length
    n_fft = int(round(sr / float(result.freqs[1] - result.freqs[0])))
    axes = fig.subplots(2, 3, sharex=True, sharey=True)
    for ax, (name, wave) in zip(axes[0], waves, strict=False):
        plot_spectrogram(wave, sr, ax, vmax=top, db_range=db_range, colorbar=False)
        ax.set_title("\n".join(textwrap.fill(line, 36) for line in name.splitlines()))
    fig.colorbar(axes[0, 0].images[0], ax=axes[0, :], label="dB", shrink=0.9)
    grid = dict(n_fft=n_fft, colorbar=False)
    plot_tf_map(result.mag_mask, sr, hop, axes[1, 0], title="magnitude mask M",
                vmin=0.0, vmax=1.0, **grid)
    if result.oracle_mask is not None:
        plot_tf_map(result.oracle_mask, sr, hop, axes[1, 1], title="oracle: ideal ratio mask",
                    vmin=0.0, vmax=1.0, **grid)
    plot_tf_map(result.phase_angle, sr, hop, axes[1, 2], title="phase-mask angle ∠P",
                cmap="twilight", vmin=-np.pi, vmax=np.pi, **grid)
    fig.colorbar(axes[1, 0].images[0], ax=axes[1, :], label="mask", shrink=0.9)
    bar = fig.colorbar(axes[1, 2].images[0], ax=axes[1, :], label="∠P (radians)", shrink=0.9)
    bar.set_ticks([-np.pi, 0.0, np.pi], labels=["−π", "0", "π"])
    for ax in (axes[0, 2], axes[1, 1]):
        if not ax.images:
            ax.text(0.5, 0.5, "reference unknown\nfor this query", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")
            ax.set_axis_off()
    duration = result.mixture.shape[-1] / sr
    for ax in axes.flat:
        ax.set_xlim(0, duration)
        ax.set_ylim(0, float(result.freqs[-1]))
        if not ax.get_subplotspec().is_last_row():
            ax.set_xlabel("")
        if not ax.get_subplotspec().is_first_col():
            ax.set_ylabel("")
    for ax in fig.axes:  # colour bars included; ticks are made lazily, so fix their size now
        ax.tick_params(labelsize=_FONT_SIZE - 0.5)


def _short_layer(name: str) -> str:
    """``encoders.1.blocks.0.bn2`` → ``enc1.bn2``: a FiLM layer's name for a crowded axis."""
    raw = name.split(".")
    parts = [p for i, p in enumerate(raw)  # drop "blocks" and the block's number after it
             if p != "blocks" and not (i and raw[i - 1] == "blocks")]
    head = parts[0].replace("encoders", "enc").replace("decoders", "dec")
    if len(parts) > 1 and parts[1].isdigit():
        return head + parts[1] + "".join("." + p for p in parts[2:])
    return ".".join([head, *parts[1:]])


_LINESTYLES = ["-", "--", ":", "-."]


def plot_film_shifts(traces: Mapping[str, FiLMTrace]) -> Figure:
    """FiLM's shift ``β`` (top) and, if the model has one, scale ``γ`` (bottom) for every
    channel of every conditioned layer, one line per query (each its own colour and line
    style, readable in grey), layers side by side in the order
    the network runs them (a :class:`~lassnet.introspect.FiLMTrace` per query, keyed by the
    query's text: :func:`lassnet.introspect.film_trace`). Returns the figure (taught in
    chapter 3, FiLM)."""
    if not traces:
        raise ValueError("traces must not be empty: pass {query: film_trace(...), ...}")
    first = next(iter(traces.values()))
    rows = [("β (shift)", "betas")] + ([("γ (scale)", "gammas")] if first.has_gamma else [])
    sizes = [b.numel() for b in first.betas]
    edges = np.concatenate([[0], np.cumsum(sizes)])
    fig = new_figure(figsize=(10.5, 2.4 * len(rows) + 0.9), layout="constrained")
    axes = fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, attr) in zip(axes, rows, strict=True):
        for i, (query, trace) in enumerate(traces.items()):
            values = torch.cat(getattr(trace, attr)).numpy()  # (ΣC,)
            ax.plot(np.arange(values.size), values, lw=0.8, color=f"C{i}",
                    linestyle=_LINESTYLES[i % len(_LINESTYLES)],  # not by colour alone
                    label=textwrap.shorten(f"“{query}”", 40), alpha=0.85)
        for edge in edges[1:-1]:
            ax.axvline(edge - 0.5, color="0.8", lw=0.5)
        ax.axhline(0.0, color="0.3", lw=0.6)
        ax.set_ylabel(name)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=8, ncol=len(traces))
    axes[0].set_title(f"FiLM per channel: {len(sizes)} conditioned layers, {edges[-1]} channels")
    axes[-1].set_xticks((edges[:-1] + edges[1:]) / 2 - 0.5,
                        [_short_layer(n) for n in first.layers], rotation=90, fontsize=7)
    axes[-1].set_xlim(-0.5, edges[-1] - 0.5)
    return fig


def plot_feature_change(traces: Mapping[str, FiLMTrace], channels: int = 2) -> Figure:
    """One layer's feature maps under two queries, side by side, and their difference on a
    diverging scale of its own: one row per channel, the ``channels`` channels whose maps
    change most between the two queries (mean absolute difference relative to the first
    query's map). ``traces``: two :class:`~lassnet.introspect.FiLMTrace` of the same layer
    and mixture, keyed by query. Returns the figure (taught in chapter 3, FiLM)."""
    if len(traces) != 2:
        raise ValueError(f"pass exactly two traces (two queries), got {len(traces)}")
    (name_a, a), (name_b, b) = traces.items()
    if a.layer != b.layer or a.maps.shape != b.maps.shape:
        raise ValueError("the two traces must be of the same layer and mixture")
    change = (a.maps - b.maps).abs().mean(dim=(1, 2)) / a.maps.abs().mean(dim=(1, 2)).clamp_min(
        1e-12)
    picked = change.argsort(descending=True)[: max(1, int(channels))].tolist()
    fig = new_figure(figsize=(11.0, 2.5 * len(picked) + 0.6), layout="constrained")
    axes = fig.subplots(len(picked), 3, sharex=True, sharey=True, squeeze=False)
    for row, c in zip(axes, picked, strict=True):
        ma, mb = a.maps[c], b.maps[c]  # (T', F')
        lo, hi = float(min(ma.min(), mb.min())), float(max(ma.max(), mb.max()))
        for ax, m, query in [(row[0], ma, name_a), (row[1], mb, name_b)]:
            plot_tf_map(m, ax=ax, cmap="magma", vmin=lo, vmax=hi, colorbar=ax is row[1],
                        title=textwrap.shorten(f"channel {c}, “{query}”", 44), **a.grid)
        d = ma - mb
        top = max(float(d.abs().max()), 1e-12)
        plot_tf_map(d, ax=row[2], cmap="RdBu_r", vmin=-top, vmax=top, **a.grid,
                    title=f"difference ({float(change[c]):.0%} of the map on average)")
    for ax in axes.flat:
        if not ax.get_subplotspec().is_first_col():
            ax.set_ylabel("")
        if not ax.get_subplotspec().is_last_row():
            ax.set_xlabel("")
    fig.suptitle(f"layer {a.layer}: feature maps ({a.time_factor}× coarser in time, "
                 f"{a.freq_factor}× in frequency, than the STFT)", fontsize=10)
    return fig


def plot_mask_comparison(
    columns: Sequence[Mapping], sample_rate: int, hop_length: int, n_fft: int | None = None
) -> Figure:
    """Masks side by side: per column a magnitude mask (top, 0 to 1) and a phase rotation
    angle (bottom, −π to π; a real mask has none and its panel says so). ``columns``: dicts
    with ``title``, ``mask`` ``(T, F)`` and optionally ``angle`` ``(T, F)`` (radians), e.g.
    the trained model's masks from :meth:`LASSModel.inspect <lassnet.model.LASSModel.inspect>`
    next to :func:`lassnet.evaluate.oracle_masks`. Returns the figure (taught in chapter 5,
    Masks)."""
    if not columns:
        raise ValueError("columns must not be empty: pass [{'title', 'mask', 'angle'}, ...]")
    with rc_context({"font.size": _FONT_SIZE, "axes.titlesize": _FONT_SIZE + 0.5}):
        fig = new_figure(figsize=(3.1 * len(columns) + 1.2, 5.2), layout="constrained")
        axes = fig.subplots(2, len(columns), sharex=True, sharey=True, squeeze=False)
        grid = dict(n_fft=n_fft, colorbar=False)
        for k, col in enumerate(columns):
            plot_tf_map(col["mask"], sample_rate, hop_length, axes[0, k], vmin=0.0, vmax=1.0,
                        title="\n".join(textwrap.fill(line, 32) for line in
                                          str(col["title"]).splitlines()), **grid)
            angle = col.get("angle")
            if angle is None:
                axes[1, k].text(0.5, 0.5, "a real mask:\nno rotation", ha="center",
                                va="center", transform=axes[1, k].transAxes, color="0.4")
                axes[1, k].set_axis_off()
            else:
                plot_tf_map(angle, sample_rate, hop_length, axes[1, k], cmap="twilight",
                            vmin=-np.pi, vmax=np.pi, title="rotation ∠P", **grid)
        fig.colorbar(axes[0, 0].images[0], ax=axes[0, :], label="magnitude mask", shrink=0.9)
        with_angle = [ax for ax in axes[1] if ax.images]
        if with_angle:
            bar = fig.colorbar(with_angle[0].images[0], ax=axes[1, :], label="∠P (radians)",
                               shrink=0.9)
            bar.set_ticks([-np.pi, 0.0, np.pi], labels=["−π", "0", "π"])
        for ax in axes.flat:
            if not ax.get_subplotspec().is_first_col():
                ax.set_ylabel("")
            if not ax.get_subplotspec().is_last_row():
                ax.set_xlabel("")
    return fig


def plot_modality_map(text, text_labels, audio, audio_labels, ax=None) -> Figure:
    """Text and audio query embeddings on one 2-D map: both sets projected together onto their
    first two principal components (an SVD of the centred embeddings), coloured by class
    (and named at the centre of its points), circles for captions and triangles for clips,
    with each modality's centre marked by a cross. ``text`` ``(N_t, D)``, ``audio`` ``(N_a,
    D)``, and one class name per row. The map keeps only the two directions of largest
    spread, so it shows a gap between the modalities only if the gap is one of them;
    :func:`lassnet.introspect.modality_gap` measures it in all ``D`` dimensions. Returns the
    figure (taught in chapter 4, QueryNet).
    """
    from .introspect import _embedding_sets

    t, a = _embedding_sets(text, audio, text_labels, audio_labels)
    both = torch.cat([t, a])  # (N_t + N_a, D)
    centre = both.mean(0)
    _, _, v = torch.linalg.svd(both - centre, full_matrices=False)  # rows of v: directions
    xy = ((both - centre) @ v[:2].T).numpy()  # (N, 2)
    spread = torch.linalg.svdvals(both - centre) ** 2
    share = float(spread[:2].sum() / spread.sum())
    names = list(dict.fromkeys([*text_labels, *audio_labels]))
    if ax is None:
        fig = new_figure(figsize=(8.0, 6.0), layout="constrained")
        ax = fig.add_subplot()
    fig = ax.figure
    cmap = "tab20" if len(names) > 10 else "tab10"
    colours = {n: _colormap(cmap)(k % 20) for k, n in enumerate(names)}
    n_t = t.shape[0]
    for k, (labels, rows, marker) in enumerate(
        [(text_labels, xy[:n_t], "o"), (audio_labels, xy[n_t:], "^")]
    ):
        ax.scatter(rows[:, 0], rows[:, 1], c=[colours[n] for n in labels], marker=marker,
                   s=34 if marker == "o" else 40, edgecolors="0.2", linewidths=0.4)
        mx, my = rows.mean(0)
        ax.scatter([mx], [my], marker="X", s=160, color="k" if k else "0.55",
                   edgecolors="white", linewidths=1.0, zorder=5)
    for name in names:  # each class named on the map, not told by its colour alone
        rows = xy[[i for i, n in enumerate([*text_labels, *audio_labels]) if n == name]]
        ax.annotate(_pretty(name), rows.mean(0), fontsize=7, ha="center", va="center",
                    color="0.1", bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none",
                                           alpha=0.7))
    handles = [ax.scatter([], [], marker="o", color="0.6", edgecolors="0.2", label="caption"),
               ax.scatter([], [], marker="^", color="0.6", edgecolors="0.2", label="clip"),
               ax.scatter([], [], marker="X", color="0.55", label="centre of the captions"),
               ax.scatter([], [], marker="X", color="k", label="centre of the clips")]
    handles += [ax.scatter([], [], marker="s", color=colours[n], label=_pretty(n))
                for n in names]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5)
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.set_title(f"query embeddings, 2 of {t.shape[1]} dimensions "
                 f"({share:.0%} of the spread)")
    ax.grid(alpha=0.3)
    return fig


def _colormap(name: str):
    """A matplotlib colour map by name (without pyplot)."""
    from matplotlib import colormaps

    return colormaps[name]


def plot_example(
    waves: Mapping[str, object],
    sample_rate: int,
    title: str | None = None,
    db_range: float = 80.0,
    panel_size: tuple[float, float] = (4.0, 2.6),
) -> Figure:
    """Spectrograms of several signals side by side on one colour scale (:func:`shared_vmax`),
    e.g. ``{"mixture": x, "target": s, "estimate": ŝ}``; each wave ``(L,)`` or ``(1, L)``, the
    keys are the panels' titles. Returns the figure (taught in chapter 8, Evaluation)."""
    if not waves:
        raise ValueError("waves must not be empty: pass {title: wave, ...}")
    top = shared_vmax(waves, sample_rate)
    fig = new_figure(figsize=(panel_size[0] * len(waves), panel_size[1]), layout="constrained")
    axes = fig.subplots(1, len(waves), sharey=True, squeeze=False)[0]
    for i, (ax, (name, wave)) in enumerate(zip(axes, waves.items(), strict=True)):
        plot_spectrogram(wave, sample_rate, ax, vmax=top, db_range=db_range,
                         colorbar=i == len(waves) - 1, title=name)
        if i:
            ax.set_ylabel("")
    if title:
        fig.suptitle(title)
    return fig


#: Hatching per bar series, so that the methods differ without colour (grey-scale prints,
#: colour-blind readers).
_HATCHES = ("", "//", "..", "xx", "\\\\", "++")


def plot_per_class(
    report: EvalReport, metric: str = "si_sdri", methods: Sequence[str] | None = None, ax=None,
    *, intervals: bool = True,
) -> Figure:
    """Horizontal bars of the mean ``metric`` per class for each method of an
    :class:`~lassnet.evaluate.EvalReport` (default: every method but the mixture, whose
    improvement is 0 by definition), classes sorted by the first method's score, best at the
    top, each class labelled with its number of mixtures ``n``. With ``intervals``, every bar
    carries its bootstrap 95 % confidence interval (:meth:`EvalReport.interval`); methods
    differ by colour *and* hatching. Returns the figure (taught in chapter 8, Evaluation)."""
    methods = [m for m in report.methods if m != "mixture"] if methods is None else list(methods)
    unknown = [m for m in methods if m not in report.methods]
    if not methods or unknown:
        raise ValueError(f"methods must be some of {report.methods}, got {methods}")
    per = {m: report.per_class(m, metric) for m in methods}
    order = sorted(report.labels, key=lambda lab: per[methods[0]][lab])  # worst first
    if ax is None:
        fig = new_figure(figsize=(7.5, 0.13 * len(order) * len(methods) + 1.2),
                         layout="constrained")
        ax = fig.add_subplot()
    fig = ax.figure
    height = 0.8 / len(methods)
    for i, m in enumerate(methods):
        offset = (len(methods) - 1 - i - (len(methods) - 1) / 2) * height
        ys = [k + offset for k in range(len(order))]
        means = [per[m][lab] for lab in order]
        ax.barh(ys, means, height=height, label=m, color=f"C{i}", edgecolor="0.15",
                linewidth=0.4, hatch=_HATCHES[i % len(_HATCHES)])
        if intervals:
            bounds = [report.interval(m, metric, label=lab) for lab in order]
            below = [mu - lo for mu, (lo, _) in zip(means, bounds, strict=True)]
            above = [hi - mu for mu, (_, hi) in zip(means, bounds, strict=True)]
            ax.errorbar(means, ys, xerr=[below, above], fmt="none", ecolor="0.15",
                        elinewidth=0.8, capsize=1.5)
    counts = {lab: len(report.scores(methods[0], metric, lab)) for lab in order}
    ax.set_yticks(range(len(order)), [f"{_pretty(lab)} (n={counts[lab]})" for lab in order])
    ax.axvline(0.0, color="0.3", lw=0.8)
    ax.set_xlabel(f"mean {metric} (dB)" + (", 95 % bootstrap intervals" if intervals else ""))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # beside the bars
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_corpus(
    clips: Mapping[str, object],
    sample_rate: int,
    *,
    captions: Mapping[str, str] | None = None,
    ncols: int = 4,
    db_range: float = 80.0,
    max_freq: float | None = None,
    panel_size: tuple[float, float] = (3.6, 2.3),
) -> Figure:
    """Several clips' spectrograms in a grid, one per class; returns the figure.

    ``clips`` maps a class id to a wave (``(L,)`` or ``(1, L)``), e.g. the first clip of
    every class of the synthetic corpus from :func:`lassnet.data.corpus_examples`, which also
    gives their ``captions`` (shown under each class id). All panels share one colour scale
    (``db_range`` dB below the loudest bin of the grid) so that levels compare. Taught in
    chapter 6 (Data).
    """
    titles = dict(captions or {})
    if not clips:
        raise ValueError("clips must not be empty")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    top = shared_vmax(clips, sample_rate)
    nrows = math.ceil(len(clips) / ncols)
    ncols = min(ncols, len(clips))
    fig = new_figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    for ax, (name, wave) in zip(axes.flat, clips.items(), strict=False):
        plot_spectrogram(
            wave,
            sample_rate,
            ax,
            db_range=db_range,
            vmax=top,
            max_freq=max_freq,
            colorbar=False,
        )
        label = f"{name}\n“{titles[name]}”" if name in titles else name
        ax.set_title(label, fontsize=9)
    for ax in axes.flat[len(clips) :]:
        ax.set_visible(False)
    for ax in axes.flat:
        if not ax.get_subplotspec().is_last_row():
            ax.set_xlabel("")
        if not ax.get_subplotspec().is_first_col():
            ax.set_ylabel("")
    image = axes.flat[0].images[0]
    fig.colorbar(image, ax=axes, label="dB", shrink=0.6)
    return fig


def _group_breaks(groups: Sequence[str] | None, n: int, what: str) -> list[int]:
    """Indices ``i`` where ``groups[i] != groups[i - 1]`` (a line is drawn before them)."""
    if groups is None:
        return []
    groups = list(groups)
    if len(groups) != n:
        raise ValueError(f"{what} has {len(groups)} entries for {n} {what.split('_')[0]}s")
    return [i for i in range(1, n) if groups[i] != groups[i - 1]]


def plot_similarity(
    matrix,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    ax=None,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
    annotate: bool = False,
    fmt: str = ".2f",
    row_groups: Sequence[str] | None = None,
    col_groups: Sequence[str] | None = None,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    colorbar: bool = True,
    colorbar_label: str | None = None,
    fontsize: float | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Draw a matrix ``(R, C)`` as a labelled heat map; returns the figure.

    For cosine similarities between two sets of embeddings (``a @ b.T``) and for confusion
    matrices (true class × predicted class). Taught in chapter 4 (QueryNet).

    Args:
        matrix: ``(R, C)`` tensor or array of finite numbers.
        row_labels, col_labels: ``R`` and ``C`` tick labels (``None``: no labels).
        ax: draw into these axes (else a new figure is made).
        vmin, vmax: colour range (default: the matrix's minimum and maximum).
        annotate: write each value in its cell with ``format(value, fmt)`` (``fmt="d"`` for
            counts), in black or white, whichever reads better on the cell's colour.
        row_groups, col_groups: a group name per row / column (e.g. the class of each caption);
            a white line is drawn wherever the group changes.
        title, xlabel, ylabel, colorbar, colorbar_label: as usual.
        fontsize: of the tick labels (default: smaller for larger matrices).
        figsize: of a new figure (default: grows with the matrix).

    Raises ``ValueError`` for a matrix that is not 2-D or not finite, or labels or groups of
    the wrong length.
    """
    m = matrix.detach().cpu().numpy() if isinstance(matrix, torch.Tensor) else np.asarray(matrix)
    if m.ndim != 2 or 0 in m.shape:
        raise ValueError(f"matrix must be 2-D and non-empty, got shape {m.shape}")
    if not np.issubdtype(m.dtype, np.number) or not np.isfinite(m).all():
        raise ValueError("matrix must hold finite numbers (no NaN or Inf)")
    rows, cols = m.shape
    for labels, n, what in ((row_labels, rows, "row_labels"), (col_labels, cols, "col_labels")):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{what} has {len(labels)} entries for {n} {what.split('_')[0]}s")
    row_breaks = _group_breaks(row_groups, rows, "row_groups")
    col_breaks = _group_breaks(col_groups, cols, "col_groups")
    if ax is None:
        if figsize is None:
            figsize = (min(16.0, 2.5 + 0.32 * cols), min(16.0, 1.5 + 0.3 * rows))
        fig = new_figure(figsize=figsize, layout="constrained")
        ax = fig.add_subplot()
    fig = ax.figure
    lo = float(m.min()) if vmin is None else float(vmin)
    hi = float(m.max()) if vmax is None else float(vmax)
    if hi <= lo:
        hi = lo + 1.0
    image = ax.imshow(m, cmap=cmap, vmin=lo, vmax=hi, aspect="auto", interpolation="nearest")
    size = fontsize if fontsize is not None else (8 if max(rows, cols) <= 20 else 6)
    ax.set_xticks(range(cols), list(col_labels) if col_labels is not None else [""] * cols,
                  rotation=90, fontsize=size)
    ax.set_yticks(range(rows), list(row_labels) if row_labels is not None else [""] * rows,
                  fontsize=size)
    if col_labels is None:
        ax.tick_params(axis="x", length=0)
    if row_labels is None:
        ax.tick_params(axis="y", length=0)
    for i in row_breaks:
        ax.axhline(i - 0.5, color="white", linewidth=1.2)
    for j in col_breaks:
        ax.axvline(j - 0.5, color="white", linewidth=1.2)
    if annotate:
        colormap = image.cmap
        for (i, j), value in np.ndenumerate(m):
            shade = colormap(image.norm(value))
            luminance = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2]
            number = int(value) if fmt.endswith("d") else float(value)
            ax.text(j, i, format(number, fmt), ha="center", va="center", fontsize=size - 1,
                    color="black" if luminance > 0.5 else "white")
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if colorbar:
        fig.colorbar(image, ax=ax, label=colorbar_label)
    return fig


# =========================================================================== chapter 7
def plot_curves(run_dir: str | os.PathLike, ax=None) -> Figure:
    """A training run's curves: the logged training loss (left axis) and, when the run
    validated, the validation SI-SDRi in dB (right axis), against the step.

    Taught in chapter 7 (Training). Reads ``train_log.csv`` and ``val_log.csv`` in
    ``run_dir`` (:func:`lassnet.train.read_log`). Draws on ``ax`` if given (adding a twin
    axis on its figure), else on a new figure; returns the figure.
    """
    from .train.state import LOSS_LOG, VAL_LOG, read_log

    run_dir = Path(run_dir)
    loss_log = run_dir / LOSS_LOG
    if not loss_log.is_file():
        raise ValueError(f"no training log {loss_log}; give the out_dir of a training run")
    if ax is None:
        fig = new_figure(figsize=(7, 3.5), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    rows = read_log(loss_log)
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], color="C0",
            label="training loss (left axis)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (line)", color="C0")
    if (run_dir / VAL_LOG).is_file():
        val = read_log(run_dir / VAL_LOG)
        ax2 = ax.twinx()
        ax2.plot([r["step"] for r in val], [r["si_sdri"] for r in val], "o-", color="C1",
                 label="validation SI-SDRi (right axis)")
        ax2.set_ylabel("validation SI-SDRi (dB, dots)", color="C1")
        # one legend for both axes: each line is named, not told by its colour alone
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [ln.get_label() for ln in lines], loc="center right", fontsize=8)
    ax.set_title(run_dir.name)
    return fig


# =========================================================================== chapter 9
def plot_per_class_comparison(
    reports: Mapping[str, EvalReport],
    methods: Sequence[str] = ("model", "oracle_iam_phase"),
    metric: str = "si_sdri",
    *,
    intervals: bool = True,
) -> Figure:
    """Per-class scores of several evaluations side by side: one panel per method of
    ``methods``, in each a horizontal bar per class and per report of ``reports`` (name →
    :class:`~lassnet.evaluate.EvalReport`, e.g. ``{"in-recipe": a, "out-of-recipe": b}``),
    with bootstrap 95 % intervals when ``intervals``.

    All reports must hold the same classes and every method. The panels share the classes'
    order: by the change of the first method's mean ``metric`` from the first report to the
    last, the largest drop at the top; each class is labelled with that change (Δ, dB). Reports
    differ by colour and hatching. Returns the figure (taught in chapter 9, "From synthetic to
    real").
    """
    names = list(reports)
    if len(names) < 2:
        raise ValueError(f"give at least two reports to compare, got {len(names)}")
    methods = list(methods)
    labels = reports[names[0]].labels
    for name in names:
        report = reports[name]
        unknown = [m for m in methods if m not in report.methods]
        if not methods or unknown:
            raise ValueError(f"methods must be some of report {name!r}'s {report.methods}, "
                             f"got {methods}")
        if report.labels != labels:
            raise ValueError(f"report {name!r} holds the classes {report.labels}, report "
                             f"{names[0]!r} holds {labels}: compare reports of the same classes")
    per = {(name, m): reports[name].per_class(m, metric) for name in names for m in methods}
    first, last = names[0], names[-1]
    change = {lab: per[(last, methods[0])][lab] - per[(first, methods[0])][lab]
              for lab in labels}
    order = sorted(labels, key=lambda lab: -change[lab])  # index 0 at the bottom: least drop
    fig = new_figure(figsize=(3.2 + 3.3 * len(methods), 0.12 * len(order) * len(names) + 1.4),
                     layout="constrained")
    axes = fig.subplots(1, len(methods), sharey=True, squeeze=False)[0]
    height = 0.8 / len(names)
    for ax, m in zip(axes, methods, strict=True):
        for i, name in enumerate(names):
            offset = (len(names) - 1 - i - (len(names) - 1) / 2) * height
            ys = [k + offset for k in range(len(order))]
            means = [per[(name, m)][lab] for lab in order]
            ax.barh(ys, means, height=height, label=name, color=f"C{i}", edgecolor="0.15",
                    linewidth=0.4, hatch=_HATCHES[i % len(_HATCHES)])
            if intervals:
                bounds = [reports[name].interval(m, metric, label=lab) for lab in order]
                below = [mu - lo for mu, (lo, _) in zip(means, bounds, strict=True)]
                above = [hi - mu for mu, (_, hi) in zip(means, bounds, strict=True)]
                ax.errorbar(means, ys, xerr=[below, above], fmt="none", ecolor="0.15",
                            elinewidth=0.8, capsize=1.5)
        ax.axvline(0.0, color="0.3", lw=0.8)
        ax.set_title(m, fontsize=10)
        ax.set_xlabel(f"mean {metric} (dB)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(order)),
                       [f"{_pretty(lab)} (Δ {change[lab]:+.1f})" for lab in order])
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig

"""Figures: spectrograms and the corpus at a glance (used from chapter 1 on; the corpus grid is
taught in chapter 6, "Data").

Library code never opens windows: every function builds a ``matplotlib.figure.Figure``
directly (no ``pyplot`` state, safe with the Agg backend and in worker processes) and returns
it. In a notebook the returned figure displays itself; elsewhere call ``fig.savefig(path)``.

* :func:`spectrogram_db` computes a dB-scaled magnitude spectrogram ``(F, T)``.
* :func:`plot_spectrogram` draws one (time in s, frequency in Hz, colour in dB).
* :func:`plot_corpus` draws one clip of every class of the synthetic corpus in a grid.
* :func:`plot_similarity` draws a labelled matrix: cosine similarities between query
  embeddings, or a confusion matrix (taught in chapter 4, "QueryNet").
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from .checks import as_waveform
from .stft import STFT

__all__ = ["new_figure", "spectrogram_db", "plot_spectrogram", "plot_corpus", "plot_similarity"]


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
            raise ValueError(f"wave must have shape (1, C, L) for one clip, got {tuple(wave.shape)}")
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


def plot_corpus(
    clips: Mapping[str, object] | None = None,
    sample_rate: int = 16000,
    duration: float | None = None,
    *,
    split: str = "test",
    seed: int = 0,
    classes: Sequence[str] | None = None,
    ncols: int = 4,
    db_range: float = 80.0,
    max_freq: float | None = None,
    captions: bool = True,
    panel_size: tuple[float, float] = (3.6, 2.3),
) -> Figure:
    """One spectrogram per class of the synthetic corpus, in a grid. Returns the figure.

    ``clips`` maps a class id to a wave (``(L,)`` or ``(1, L)``); by default the first clip of
    each class of ``SyntheticClips(split, sample_rate, duration, seed=seed)`` is drawn.
    All panels share one colour scale (``db_range`` dB below the loudest bin of the grid) so
    that levels compare. Taught in chapter 6 (Data).
    """
    from .data import synthetic

    if clips is None:
        source = synthetic.SyntheticClips(
            split,
            sample_rate,
            synthetic.DEFAULT_DURATION if duration is None else duration,
            size=len(classes or synthetic.CLASSES),
            classes=classes,
            seed=seed,
        )
        clips, titles = {}, {}
        for i in range(len(source)):
            item = source[i]
            clips[item["label"]] = item["wave"]
            titles[item["label"]] = item["caption"]
    else:
        titles = {}
    if not clips:
        raise ValueError("clips must not be empty")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    specs = {c: spectrogram_db(w, sample_rate) for c, w in clips.items()}
    top = max(float(s[0].max()) for s in specs.values())
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
        label = name if not (captions and name in titles) else f"{name}\n“{titles[name]}”"
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
import os  # noqa: E402  (this section is appended to the module; its imports sit with it)
from pathlib import Path  # noqa: E402

__all__.append("plot_curves")


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
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], color="C0", label="train loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss", color="C0")
    if (run_dir / VAL_LOG).is_file():
        val = read_log(run_dir / VAL_LOG)
        ax2 = ax.twinx()
        ax2.plot([r["step"] for r in val], [r["si_sdri"] for r in val], "o-", color="C1",
                 label="validation SI-SDRi")
        ax2.set_ylabel("validation SI-SDRi (dB)", color="C1")
    ax.set_title(run_dir.name)
    return fig

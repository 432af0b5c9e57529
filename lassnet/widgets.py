"""Try a model by hand: separate a mixture by a typed query and look at what happened
(the demo of the introduction, chapter 0).

The work is done by plain functions that need no notebook front end; the ipywidgets picker is
a thin layer on top of them, and :func:`static_demo` shows the same panels where no kernel
runs (the built web page of the book).

* :func:`demo_mixtures` draws a few reproducible mixtures from the corpus's fixed test split,
  with every source kept, so that the true sound of any class in a mixture is known.
* :func:`separate_with_masks` separates one mixture by one query and keeps the separator's
  magnitude and phase masks (:class:`Separation`).
* :func:`plot_separation` draws mixture / estimate / reference spectrograms on one colour
  scale, the predicted magnitude mask, the oracle ideal ratio mask and the phase-mask angle.
* :func:`audio_players` lays out the sounds as HTML audio players; :func:`show_separation`
  displays figure and players.
* :class:`QueryPicker` is the ipywidgets picker (mixture, class, free-text query, a
  "Separate" button); :func:`static_demo` renders a few default queries without a kernel.
"""

from __future__ import annotations

import html
import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib import rc_context
from matplotlib.figure import Figure

from .checks import as_waveform
from .masks import ideal_ratio_mask
from .metrics import si_sdr
from .plot import new_figure, plot_spectrogram, spectrogram_db

__all__ = [
    "Separation",
    "demo_mixtures",
    "describe_mixture",
    "reference_for",
    "separate_with_masks",
    "plot_separation",
    "audio_players",
    "show_separation",
    "default_examples",
    "static_demo",
    "QueryPicker",
]


def _pretty(label: str) -> str:
    return label.replace("_", " ")


def _mono(wave, name: str = "clip") -> torch.Tensor:
    """``(L,)``, ``(1, L)`` or ``(1, 1, L)`` (tensor or array) → float32 ``(L,)`` on the CPU,
    by :func:`lassnet.checks.as_waveform`'s contract."""
    wave = as_waveform(wave, name, layouts=("L", "CL", "BCL")).cpu()
    while wave.dim() > 1 and wave.shape[0] == 1:
        wave = wave[0]
    if wave.dim() != 1:
        raise ValueError(f"{name} must be a mono clip (L,) or (1, L), got {tuple(wave.shape)}")
    return wave


# ----------------------------------------------------------------------------- mixtures
def demo_mixtures(
    sample_rate: int = 16000,
    count: int = 4,
    n_interferers: int = 2,
    duration: float = 4.0,
    seed: int = 0,
) -> list[dict]:
    """A few reproducible mixtures of the corpus's fixed test split, mixed as AudioSep mixes
    (:class:`lassnet.data.MixtureDataset`), every one with a different target class.

    Each item has ``mixture`` and ``target`` ``(1, L)``, ``interferers`` ``(k, L)`` (the other
    sources, as they are in the mixture), ``label``, ``caption`` and ``interferer_labels``.
    The same list on every machine.
    """
    from .data import CLASSES, MixtureDataset

    if not 1 <= count <= len(CLASSES):
        raise ValueError(f"count must be between 1 and {len(CLASSES)}, got {count}")
    order = np.random.default_rng(seed).permutation(len(CLASSES))[:count]
    dataset = MixtureDataset(
        size=count,
        sample_rate=sample_rate,
        segment_seconds=duration,
        min_interferers=n_interferers,
        max_interferers=n_interferers,
        seed=seed,
        split="test",
        target_classes=[CLASSES[i] for i in order],
        return_sources=True,
    )
    return [dataset[i] for i in range(count)]


def describe_mixture(item: dict) -> str:
    """``"siren + rain, bell"``: the target class first, then the interferers."""
    others = ", ".join(_pretty(c) for c in item.get("interferer_labels", []))
    return _pretty(item["label"]) + (f" + {others}" if others else "")


def reference_for(item: dict, label: str | None) -> torch.Tensor | None:
    """The true sound of class ``label`` in a mixture item ``(L,)``, or ``None`` when the
    mixture holds no clip of that class (or its sources were not kept)."""
    if label is None:
        return None
    if item.get("label") == label:
        return _mono(item["target"])
    interferers = item.get("interferers")
    labels = list(item.get("interferer_labels", []))
    if interferers is not None and label in labels:
        return _mono(interferers[labels.index(label)])
    return None


# ----------------------------------------------------------------------------- the core
@dataclass
class Separation:
    """One separation and everything needed to look at it.

    Waves are ``(L,)`` at ``sample_rate``; masks are ``(T, F)`` on the separator's STFT grid
    (frame ``t`` centred at ``t·hop_length`` samples, bin ``f`` at ``freqs[f]`` Hz).
    ``reference`` is the true sound, when known; ``oracle_mask`` is then the ideal ratio mask
    of the reference in the mixture (chapter 5), the mask a perfect magnitude-only separator
    would predict.
    """

    query: str
    sample_rate: int
    mixture: torch.Tensor
    estimate: torch.Tensor
    mag_mask: torch.Tensor
    phase_cos: torch.Tensor
    phase_sin: torch.Tensor
    hop_length: int
    freqs: np.ndarray
    reference: torch.Tensor | None = None
    reference_label: str | None = None
    oracle_mask: torch.Tensor | None = None
    mixture_label: str = "mixture"

    @property
    def phase_angle(self) -> torch.Tensor:
        """``∠P`` in radians, ``(T, F)``: how far the phase mask turns each bin's phase."""
        return torch.atan2(self.phase_sin, self.phase_cos)

    @property
    def scores(self) -> dict[str, float] | None:
        """SI-SDR (dB) of the mixture and of the estimate against the reference, and the
        improvement ``si_sdri``; ``None`` without a reference."""
        if self.reference is None:
            return None
        mix = float(si_sdr(self.mixture, self.reference))
        est = float(si_sdr(self.estimate, self.reference))
        return {"mixture": mix, "estimate": est, "si_sdri": est - mix}


@torch.no_grad()
def separate_with_masks(
    model,
    mixture,
    query: str,
    *,
    reference=None,
    reference_label: str | None = None,
    mixture_label: str = "mixture",
) -> Separation:
    """Separate ``mixture`` (``(L,)`` or ``(1, L)`` at the model's sample rate) by a text
    ``query`` with a :class:`~lassnet.model.LASSModel`, keeping the separator's masks.

    The mixture is padded to whole hops (as :meth:`LASSModel.separate
    <lassnet.model.LASSModel.separate>` does) and separated in one piece by
    ``SeparationNet(..., return_masks=True)``, so keep it short (seconds). ``reference``, the
    true sound ``(L,)`` if known, adds the scores and the oracle mask. Raises ``ValueError``
    for an empty query or a bad clip.
    """
    wave = _mono(mixture, "mixture")
    if not isinstance(query, str) or not query.strip():
        raise ValueError("type a query: a short description of the sound to extract")
    separator = model.separator.eval()
    stft = separator.stft
    length = wave.shape[-1]
    padded = max(length, stft.min_length)
    padded += -padded % stft.hop_length
    device = next(separator.parameters()).device
    x = torch.nn.functional.pad(wave, (0, padded - length))[None, None].to(device)  # (1, 1, L')
    condition = model.embed(query.strip())  # (1, D)
    out = separator(x, condition, return_masks=True)
    estimate = out["waveform"][0, 0, :length].cpu()
    ref = None if reference is None else _mono(reference, "reference")
    oracle = None
    if ref is not None:
        if ref.shape != wave.shape:
            raise ValueError(f"reference {tuple(ref.shape)} and mixture {tuple(wave.shape)} differ")
        pad = (0, padded - length)
        spec_ref = stft(torch.nn.functional.pad(ref, pad)[None, None])  # (1, 1, T, F)
        spec_mix = stft(x.cpu())
        oracle = ideal_ratio_mask(spec_ref, spec_mix)[0, 0]
    return Separation(
        query=query.strip(),
        sample_rate=separator.config.sample_rate,
        mixture=wave,
        estimate=estimate,
        mag_mask=out["mag_mask"][0, 0].cpu(),
        phase_cos=out["phase_cos"][0, 0].cpu(),
        phase_sin=out["phase_sin"][0, 0].cpu(),
        hop_length=stft.hop_length,
        freqs=stft.frequencies(separator.config.sample_rate).numpy(),
        reference=ref,
        reference_label=reference_label,
        oracle_mask=oracle,
        mixture_label=mixture_label,
    )


def _draw_map(ax, values: torch.Tensor, result: Separation, title: str, **style):
    """Draw a ``(T, F)`` map on the STFT grid: time (s) across, frequency (Hz) up."""
    frames = values.shape[0]
    dt = result.hop_length / result.sample_rate
    df = float(result.freqs[1] - result.freqs[0])
    image = ax.imshow(
        values.T.numpy(),
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        extent=(-dt / 2, (frames - 0.5) * dt, -df / 2, float(result.freqs[-1]) + df / 2),
        **style,
    )
    ax.set_title(title)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    return image


_FONT_SIZE = 8.5  # the figure is 10.5 in wide and is shown about 7 in wide on a book page


def plot_separation(result: Separation, db_range: float = 80.0) -> Figure:
    """Two rows of panels. Top: mixture, estimate and (if known) reference spectrograms, on
    one colour scale. Bottom: the predicted magnitude mask ``M``, the oracle ideal ratio mask
    (if the reference is known), and the phase-mask angle ``∠P``. Returns the figure."""
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
    top = max(float(spectrogram_db(w, sr)[0].max()) for _, w in waves)
    with rc_context({"font.size": _FONT_SIZE, "axes.titlesize": _FONT_SIZE + 0.5}):
        fig = new_figure(figsize=(10.5, 6.0), layout="constrained")
        _draw_separation(fig, result, waves, top, db_range)
    return fig


def _draw_separation(fig: Figure, result: Separation, waves, top: float, db_range: float):
    sr = result.sample_rate
    axes = fig.subplots(2, 3, sharex=True, sharey=True)
    for ax, (name, wave) in zip(axes[0], waves, strict=False):
        plot_spectrogram(wave, sr, ax, vmax=top, db_range=db_range, colorbar=False)
        ax.set_title("\n".join(textwrap.fill(line, 36) for line in name.splitlines()))
    fig.colorbar(axes[0, 0].images[0], ax=axes[0, :], label="dB", shrink=0.9)
    mask_image = _draw_map(axes[1, 0], result.mag_mask, result, "magnitude mask M",
                           cmap="viridis", vmin=0.0, vmax=1.0)
    if result.oracle_mask is not None:
        _draw_map(axes[1, 1], result.oracle_mask, result, "oracle: ideal ratio mask",
                  cmap="viridis", vmin=0.0, vmax=1.0)
    phase_image = _draw_map(axes[1, 2], result.phase_angle, result, "phase-mask angle ∠P",
                            cmap="twilight", vmin=-np.pi, vmax=np.pi)
    fig.colorbar(mask_image, ax=axes[1, :], label="mask", shrink=0.9)
    bar = fig.colorbar(phase_image, ax=axes[1, :], label="∠P (radians)", shrink=0.9)
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


def audio_players(result: Separation) -> str:
    """HTML: one labelled audio player each for mixture, estimate and (if known) reference.

    All players of a result share one gain (the loudest clip peaks at 0.9), so that what is
    quieter sounds quieter."""
    from IPython.display import Audio

    clips = [("mixture", result.mixture), (f"estimate: “{result.query}”", result.estimate)]
    if result.reference is not None:
        name = _pretty(result.reference_label) if result.reference_label else "target"
        clips.append((f"reference: {name}", result.reference))
    peak = max(float(w.abs().max()) for _, w in clips)
    gain = 0.9 / peak if peak > 0 else 1.0
    rows = []
    for name, wave in clips:
        player = Audio((wave * gain).clamp(-1, 1).numpy(), rate=result.sample_rate,
                       normalize=False)
        rows.append(
            '<tr><td style="padding:0 1em 0 0; text-align:left; vertical-align:middle; '
            f'width:16em"><b>{html.escape(name)}</b></td><td>{player._repr_html_()}</td></tr>'
        )
    return ('<table class="lassnet-players" style="margin:0.5em 0; border:none">'
            f'{"".join(rows)}</table>')


def show_separation(result: Separation) -> None:
    """Display the figure of :func:`plot_separation` (as a PNG image) and the
    :func:`audio_players`."""
    from IPython.display import HTML, Image, display

    display(Image(data=_png(plot_separation(result))))
    display(HTML(audio_players(result)))


def _png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (shown the same with or without matplotlib's inline backend)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- static demo
def default_examples(mixtures: Sequence[dict]) -> list[tuple[int, str, str]]:
    """A few ``(mixture index, query, class)`` to show without a kernel: the first mixture
    queried for its target and for its first interferer (the same mixture, another sound),
    and the second mixture for its target."""
    from .data import CAPTIONS

    examples = [(0, mixtures[0]["caption"], mixtures[0]["label"])]
    others = list(mixtures[0].get("interferer_labels", []))
    if others:
        examples.append((0, CAPTIONS[others[0]][0], others[0]))
    if len(mixtures) > 1:
        examples.append((1, mixtures[1]["caption"], mixtures[1]["label"]))
    return examples


def static_demo(
    model,
    mixtures: Sequence[dict] | None = None,
    examples: Sequence[tuple[int, str, str | None]] | None = None,
    show: bool = True,
) -> list[Separation]:
    """The picker's panels for a few fixed queries, as static figures and audio players,
    for pages where no kernel runs. ``examples``: ``(mixture index, query, class or None)``
    (default :func:`default_examples`). Returns the separations (and displays them unless
    ``show=False``)."""
    from IPython.display import HTML, Markdown, display

    mixtures = list(mixtures) if mixtures is not None else demo_mixtures(model.sample_rate)
    results = []
    for index, query, label in examples or default_examples(mixtures):
        item = mixtures[index]
        result = separate_with_masks(
            model, item["mixture"], query, reference=reference_for(item, label),
            reference_label=label, mixture_label=describe_mixture(item),
        )
        results.append(result)
        if show:
            display(Markdown(f"**Mixture {index + 1}** ({describe_mixture(item)}), "
                             f"query *“{result.query}”*"))
            show_separation(result)
            display(HTML("<hr>"))
    return results


# ----------------------------------------------------------------------------- the widget
class QueryPicker:
    """An ipywidgets query picker for a :class:`~lassnet.model.LASSModel`.

    A mixture dropdown (:func:`demo_mixtures` by default), a class dropdown (picking a class
    fills the query box with one of its captions), a free-text query box and a "Separate"
    button. A click separates the chosen mixture by the query and shows
    :func:`plot_separation`'s figure and the :func:`audio_players` below. The reference is the
    chosen class's sound in the mixture; editing the query into something that is not a
    caption of that class resets the class to "your own words" (no reference).

    Display the picker as the last expression of a cell (or ``display(picker.widget)``).
    Attributes: ``mixture``, ``classes``, ``query``, ``button``, ``output`` (the widgets),
    ``result`` (the last :class:`Separation`), ``error`` (the last error message or ``None``).
    """

    FREE_TEXT = "(your own words)"

    def __init__(self, model, mixtures: Sequence[dict] | None = None, captions=None):
        import ipywidgets as w

        from .data import CAPTIONS

        self.model = model
        self.mixtures = list(mixtures) if mixtures is not None else demo_mixtures(
            model.sample_rate
        )
        if not self.mixtures:
            raise ValueError("need at least one mixture")
        self.captions = dict(CAPTIONS if captions is None else captions)
        self.result: Separation | None = None
        self.error: str | None = None
        layout = w.Layout(width="auto")
        self.mixture = w.Dropdown(
            options=[(f"{i + 1}. {describe_mixture(m)}", i) for i, m in enumerate(self.mixtures)],
            value=0, description="mixture", layout=w.Layout(width="32em"),
        )
        self.classes = w.Dropdown(
            options=[(self.FREE_TEXT, None)] + [(_pretty(c), c) for c in self.captions],
            description="class", layout=w.Layout(width="18em"),
        )
        self.query = w.Text(description="query", placeholder="describe the sound to extract",
                            layout=w.Layout(width="24em"), continuous_update=True)
        self.button = w.Button(description="Separate", button_style="primary",
                               icon="scissors", layout=layout)
        self.status = w.HTML()
        self.output = w.Output()
        self.classes.observe(self._on_class, names="value")
        self.query.observe(self._on_text, names="value")
        self.button.on_click(lambda _button: self.separate())
        self.classes.value = self.mixtures[0]["label"]  # fills the query with a caption
        self.widget = w.VBox([
            self.mixture,
            w.HBox([self.classes, self.query, self.button]),
            self.status,
            self.output,
        ])

    # -- events --------------------------------------------------------------------------
    def _on_class(self, change) -> None:
        label = change["new"]
        if label is not None and self.query.value not in self.captions[label]:
            self.query.value = self.captions[label][0]

    def _on_text(self, change) -> None:
        label = self.classes.value
        if label is not None and change["new"] not in self.captions[label]:
            self.classes.value = None

    def separate(self) -> Separation | None:
        """What the button does: separate, then show the figure and players in ``output``."""
        from IPython.display import HTML, Image

        item = self.mixtures[self.mixture.value]
        label = self.classes.value
        self.status.value = "<i>separating…</i>"
        try:
            result = separate_with_masks(
                self.model, item["mixture"], self.query.value,
                reference=reference_for(item, label), reference_label=label,
                mixture_label=describe_mixture(item),
            )
        except ValueError as err:
            self.error = str(err)
            self.status.value = f'<span style="color:#b00020">{html.escape(self.error)}</span>'
            return None
        self.error = None
        self.result = result
        scores = result.scores
        self.status.value = (
            f"SI-SDR improvement: <b>{scores['si_sdri']:+.1f} dB</b>" if scores else
            "no reference for this query: listen and look"
        )
        self.output.outputs = ()
        self.output.append_display_data(Image(data=_png(plot_separation(result))))
        self.output.append_display_data(HTML(audio_players(result)))
        return result

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

"""Try a model by hand: separate a mixture by a typed query, look and listen (the demo of
the introduction, chapter 0).

This module is the user interface only; the work lives in the layers below it:
:func:`lassnet.data.evaluation_mixtures` (with ``return_sources=True``) draws the demo's
mixtures, :meth:`LASSModel.inspect <lassnet.model.LASSModel.inspect>` separates one by one
query and keeps the masks (a :class:`~lassnet.model.Separation`), and
:func:`lassnet.plot.plot_separation` draws it.

* :func:`audio_players` lays out the sounds as HTML audio players; :func:`show_separation`
  displays figure and players.
* :class:`QueryPicker` is the ipywidgets picker (mixture, class, free-text query, a
  "Separate" button); :func:`static_demo` renders a few :func:`default_examples` without a
  kernel (the built web page of the book).
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

from matplotlib.figure import Figure

from .data import CAPTIONS, describe_mixture, evaluation_mixtures, reference_for
from .model import Separation
from .plot import plot_separation

__all__ = [
    "audio_players",
    "show_separation",
    "default_examples",
    "static_demo",
    "QueryPicker",
]


def _pretty(label: str) -> str:
    return label.replace("_", " ")


def _demo_mixtures(sample_rate: int) -> list[dict]:
    """The mixtures shown when none are given: four of the corpus's test split, each a target
    and two other sounds, with every source kept."""
    return evaluation_mixtures(count=4, n_interferers=2, sample_rate=sample_rate,
                               duration=4.0, return_sources=True)


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
    """Display the figure of :func:`lassnet.plot.plot_separation` (as a PNG image) and the
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
    and the second mixture for its target (items with sources kept, as from
    :func:`lassnet.data.evaluation_mixtures` with ``return_sources=True``)."""
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
    for pages where no kernel runs. ``mixtures``: items of
    :func:`lassnet.data.evaluation_mixtures` with ``return_sources=True`` (default: four of
    the test split). ``examples``: ``(mixture index, query, class or None)`` (default
    :func:`default_examples`). Returns the separations (:meth:`LASSModel.inspect
    <lassnet.model.LASSModel.inspect>`) and displays them unless ``show=False``."""
    from IPython.display import HTML, Markdown, display

    mixtures = list(mixtures) if mixtures is not None else _demo_mixtures(model.sample_rate)
    results = []
    for index, query, label in examples or default_examples(mixtures):
        item = mixtures[index]
        result = model.inspect(
            item["mixture"], query, reference=reference_for(item, label),
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

    A mixture dropdown (``mixtures``: items of :func:`lassnet.data.evaluation_mixtures` with
    ``return_sources=True``; default four of the test split), a class dropdown (picking a
    class fills the query box with one of its captions), a free-text query box and a
    "Separate" button. A click separates the chosen mixture by the query
    (:meth:`LASSModel.inspect <lassnet.model.LASSModel.inspect>`) and shows
    :func:`lassnet.plot.plot_separation`'s figure and the :func:`audio_players` below. The
    reference is the chosen class's sound in the mixture; editing the query into something
    that is not a caption of that class resets the class to "your own words" (no reference).

    Display the picker as the last expression of a cell (or ``display(picker.widget)``).
    Attributes: ``mixture``, ``classes``, ``query``, ``button``, ``output`` (the widgets),
    ``result`` (the last :class:`Separation`), ``error`` (the last error message or ``None``).
    """

    FREE_TEXT = "(your own words)"

    def __init__(self, model, mixtures: Sequence[dict] | None = None, captions=None):
        import ipywidgets as w

        self.model = model
        self.mixtures = list(mixtures) if mixtures is not None else _demo_mixtures(
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
            result = self.model.inspect(
                item["mixture"], self.query.value,
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

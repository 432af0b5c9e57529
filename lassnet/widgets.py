"""Pickers: try a model by hand — choose a mixture and a query, look and listen (the
introduction's demo, and the pickers of chapters 3, 5 and 8).

Every picker is built from one small design, :class:`Picker`:

* it declares its **controls** (:func:`dropdown` and :func:`text` give a
  :class:`Control`: a name, a label, options and a starting value), and may link a class
  dropdown to a query box so that picking a class fills in one of its captions;
* :meth:`Picker.render` turns one **state** (``{control name: value}``) into a
  :class:`Panel`: a title, a one-line status (a score, or why there is none), and the items
  to show (:class:`Shown` figures, each with its alternative text, and HTML such as
  :func:`audio_players`);
* in Jupyter the picker is an ipywidgets form (its controls, a button, the status line and
  an output area): a click renders the current state into the output;
* :meth:`Picker.static` renders the same panels for a few fixed states as images and
  players, for the built web page of the book, where no kernel runs the widgets
  (:meth:`Picker.default_states` chooses them).

The pickers:

* :class:`QueryPicker` (introduction): separate a mixture by a typed query; figure of
  :func:`lassnet.plot.plot_separation` and players. :func:`static_demo` is its static form.
* :class:`FiLMPicker` (chapter 3): two queries on one mixture; FiLM's shifts and scales per
  layer (:func:`lassnet.plot.plot_film_shifts`) and one layer's feature maps under both
  (:func:`lassnet.plot.plot_feature_change`), from :func:`lassnet.introspect.film_trace`.
* :class:`MaskPicker` (chapter 5): the trained model's magnitude mask and phase rotation next
  to the oracle masks (:func:`lassnet.evaluate.oracle_masks`), each scored and playable.
* :class:`EvalExplorer` (chapter 8): one mixture of the evaluation protocol asked for its
  target, by a wrong query, or for an interferer (the query swap): SI-SDRi, SDRi, BSS Eval's
  SDR, SIR and SAR, spectrograms of mixture, estimate, reference and residual, players.

The work lives in the layers below: :func:`lassnet.data.evaluation_mixtures` (with
``return_sources=True``) draws the mixtures, :meth:`LASSModel.inspect
<lassnet.model.LASSModel.inspect>` separates and keeps the masks, :mod:`lassnet.plot` draws.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from matplotlib.figure import Figure

from .data import CAPTIONS, describe_mixture, evaluation_mixtures, reference_for
from .model import Separation
from .plot import plot_separation

__all__ = [
    "Control",
    "dropdown",
    "text",
    "Panel",
    "Picker",
    "Player",
    "player",
    "players",
    "audio_players",
    "figure_html",
    "Shown",
    "show_separation",
    "default_examples",
    "static_demo",
    "QueryPicker",
    "FiLMPicker",
    "MaskPicker",
    "EvalExplorer",
]


def _pretty(label: str) -> str:
    return label.replace("_", " ")


def _demo_mixtures(sample_rate: int) -> list[dict]:
    """The mixtures shown when none are given: four of the corpus's test split, each a target
    and two other sounds, with every source kept."""
    return evaluation_mixtures(count=4, n_interferers=2, sample_rate=sample_rate,
                               duration=4.0, return_sources=True)


# ----------------------------------------------------------------------------- players
def _wav_src(wave, sample_rate: int, normalize: bool = True) -> str:
    """A ``data:audio/wav;base64,…`` address for ``wave`` ((L,) or (C, L), numpy or torch)."""
    from IPython.display import Audio

    if isinstance(wave, torch.Tensor):
        wave = wave.detach().cpu().numpy()
    return Audio(wave, rate=sample_rate, normalize=normalize).src_attr()


def _audio_tag(src: str, label: str) -> str:
    """An ``<audio>`` element whose accessible name is ``label`` (screen readers say it)."""
    name = html.escape(label, quote=True)
    return (f'<audio controls preload="none" aria-label="{name}" title="{name}">'
            f'<source src="{src}" type="audio/wav">your browser cannot play audio</audio>')


@dataclass
class Player:
    """One labelled audio player (:func:`player`): ``label`` is shown above the player and is
    its accessible name; ``html`` is the markup (a ``<figure>`` with a ``<figcaption>``).
    Displayed as the last expression of a notebook cell."""

    label: str
    html: str

    def _repr_html_(self) -> str:
        return self.html


def player(wave, sample_rate: int, label: str, normalize: bool = True) -> Player:
    """A labelled audio player for ``wave`` ((L,) mono or (C, L), numpy or torch).

    Unlike ``IPython.display.Audio`` alone, the player says what is playing, on the page
    (a caption above it) and to a screen reader (the ``<audio>`` element's accessible name):
    "mixture", "estimate for “a siren wailing”", "reference: siren". ``normalize`` (default,
    as ``Audio``'s) scales the clip to full level; ``False`` plays it as it is (values in
    [-1, 1]). Every chapter's players are made by this function or :func:`players`."""
    label = str(label).strip()
    if not label:
        raise ValueError("a player needs a label saying what is playing, e.g. 'mixture'")
    markup = ('<figure class="lassnet-player" style="margin:0.4em 0">'
              f'<figcaption style="font-size:90%">{html.escape(label)}</figcaption>'
              f'{_audio_tag(_wav_src(wave, sample_rate, normalize), label)}</figure>')
    return Player(label, markup)


def players(clips: Sequence[tuple[str, torch.Tensor]], sample_rate: int) -> str:
    """HTML: one labelled audio player per ``(name, wave (L,))``, all at one gain (the
    loudest clip peaks at 0.9), so that what is quieter sounds quieter. Each name is shown
    beside its player and is the player's accessible name."""
    peak = max((float(w.abs().max()) for _, w in clips), default=0.0)
    gain = 0.9 / peak if peak > 0 else 1.0
    rows = []
    for name, wave in clips:
        src = _wav_src((wave * gain).clamp(-1, 1), sample_rate, normalize=False)
        rows.append(
            '<tr><th scope="row" style="padding:0 1em 0 0; text-align:left; '
            f'vertical-align:middle; width:16em">{html.escape(name)}</th>'
            f'<td>{_audio_tag(src, name)}</td></tr>'
        )
    return ('<table class="lassnet-players" style="margin:0.5em 0; border:none">'
            f'{"".join(rows)}</table>')


def audio_players(result: Separation) -> str:
    """HTML: one labelled audio player each for mixture, estimate and (if known) reference
    of a :class:`~lassnet.model.Separation`, at one gain (:func:`players`)."""
    clips = [("mixture", result.mixture), (f"estimate: “{result.query}”", result.estimate)]
    if result.reference is not None:
        name = _pretty(result.reference_label) if result.reference_label else "target"
        clips.append((f"reference: {name}", result.reference))
    return players(clips, result.sample_rate)


def _separation_alt(result: Separation) -> str:
    parts = ["mixture", f"estimate for the query “{result.query}”"]
    if result.reference is not None:
        parts.append("reference")
    return (f"Spectrograms of the {', '.join(parts)} and the model's magnitude mask and phase "
            f"rotation, frequency against time; where the mask is bright the estimate keeps "
            f"the mixture's energy.")


def show_separation(result: Separation) -> None:
    """Display the figure of :func:`lassnet.plot.plot_separation` (with alternative text
    describing it) and the :func:`audio_players`."""
    from IPython.display import HTML, display

    display(HTML(figure_html(plot_separation(result), _separation_alt(result))))
    display(HTML(audio_players(result)))


def _png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (shown the same with or without matplotlib's inline backend)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def figure_html(fig: Figure, alt: str, caption: str = "", dpi: int = 100) -> str:
    """HTML: ``fig`` as an embedded PNG image with alternative text ``alt`` (what the figure
    shows, in words, for readers who cannot see it) and an optional visible ``caption``, in a
    ``<figure>``. The pickers' panels show their figures this way, in Jupyter and on the
    book's static pages. The figure is closed afterwards."""
    import base64

    import matplotlib.pyplot as plt

    alt = " ".join(str(alt).split())
    if not alt:
        raise ValueError("a figure needs alternative text saying what it shows")
    data = base64.b64encode(_png(fig, dpi)).decode("ascii")
    plt.close(fig)
    cap = (f'<figcaption style="font-size:90%">{html.escape(caption)}</figcaption>'
           if caption else "")
    return ('<figure class="lassnet-figure" style="margin:0.5em 0">'
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}" '
            f'style="max-width:100%">{cap}</figure>')


@dataclass
class Shown:
    """A figure of a :class:`Panel` with its alternative text (:func:`figure_html`)."""

    figure: Figure
    alt: str


def _item_html(item) -> str:
    if isinstance(item, Shown):
        return figure_html(item.figure, item.alt)
    if isinstance(item, Figure):
        raise TypeError("a panel's figure needs alternative text: wrap it as Shown(fig, alt)")
    return item


# ----------------------------------------------------------------------------- the design
@dataclass
class Control:
    """One control of a :class:`Picker`: ``kind`` ``"dropdown"`` (``options``: ``(text,
    value)`` pairs) or ``"text"``; ``name`` is the state's key and the picker's attribute
    holding the ipywidget."""

    name: str
    kind: str
    label: str
    value: Any = None
    options: list[tuple[str, Any]] = field(default_factory=list)
    placeholder: str = ""
    width: str = "18em"


def dropdown(name: str, label: str, options: Sequence[tuple[str, Any]], value: Any = None,
             width: str = "18em") -> Control:
    """A dropdown control; ``value`` defaults to the first option's."""
    options = list(options)
    if not options:
        raise ValueError(f"dropdown {name!r} needs at least one option")
    return Control(name, "dropdown", label, options[0][1] if value is None else value,
                   options=options, width=width)


def text(name: str, label: str, value: str = "", placeholder: str = "",
         width: str = "24em") -> Control:
    """A text box control."""
    return Control(name, "text", label, value, placeholder=placeholder, width=width)


@dataclass
class Panel:
    """What a picker shows for one state: ``title`` (a heading on static pages), ``status``
    (one line of plain text: a score, or why there is none), ``items`` (:class:`Shown`
    figures, each with alternative text, and HTML strings, in order) and ``result`` (what
    the picker computed, for code and tests)."""

    title: str
    status: str
    items: list = field(default_factory=list)
    result: Any = None


class Picker:
    """The one design of every picker. A subclass sets :attr:`controls` (a list of
    :class:`Control`) and :attr:`links` (``{class dropdown: query box}``, optional) in its
    ``__init__`` before calling ``super().__init__()``, and implements :meth:`render` and
    :meth:`default_states`.

    :meth:`render` works without ipywidgets (static pages, tests); the ipywidgets form is
    built on first use of :attr:`widget` or of a control's attribute (``picker.mixture``,
    ``picker.button``, ``picker.status``, ``picker.output``). Attributes: ``panel`` (the last
    :class:`Panel` shown), ``error`` (the last error message or ``None``).
    """

    button_label = "Show"
    captions: dict = CAPTIONS
    FREE_TEXT = "(your own words)"

    def __init__(self):
        self.links: dict[str, str] = getattr(self, "links", {})
        self.panel: Panel | None = None
        self.error: str | None = None
        self._built = False

    # -- to implement ----------------------------------------------------------------------
    def render(self, state: Mapping[str, Any]) -> Panel:
        """The panel for one state ``{control name: value}``."""
        raise NotImplementedError

    def default_states(self) -> list[dict]:
        """The states :meth:`static` shows when none are given (complete: every control)."""
        return [self.defaults]

    # -- states ----------------------------------------------------------------------------
    @property
    def defaults(self) -> dict:
        """Every control's starting value."""
        return {c.name: c.value for c in self.controls}

    @property
    def state(self) -> dict:
        """The controls' current values (the starting values until the form is built)."""
        if not self._built:
            return self.defaults
        return {c.name: self._widgets[c.name].value for c in self.controls}

    def full_state(self, state: Mapping[str, Any] | None = None) -> dict:
        """``state`` completed with the starting values; unknown names raise ``ValueError``."""
        state = dict(state or {})
        names = [c.name for c in self.controls]
        unknown = [k for k in state if k not in names]
        if unknown:
            raise ValueError(f"no control named {unknown[0]!r}; this picker has {names}")
        return self.defaults | state

    # -- static pages ----------------------------------------------------------------------
    def static(self, states: Sequence[Mapping[str, Any]] | None = None,
               show: bool = True) -> list[Panel]:
        """Render ``states`` (default :meth:`default_states`) and, unless ``show=False``,
        display each panel: its title and status, its figures as PNG images, its HTML. For
        pages where no kernel runs the widget. Returns the panels."""
        from IPython.display import HTML, Markdown, display

        panels = [self.render(self.full_state(s)) for s in
                  (self.default_states() if states is None else states)]
        if show:
            for panel in panels:
                display(Markdown(f"**{panel.title}**" + (f" {panel.status}" if panel.status
                                                          else "")))
                for item in panel.items:
                    display(HTML(_item_html(item)))
                display(HTML("<hr>"))
        return panels

    # -- the ipywidgets form ---------------------------------------------------------------
    def __getattr__(self, name: str):
        # Only called for attributes not found: the form's widgets, built on first use.
        if name.startswith("_") or name in ("controls", "links"):
            raise AttributeError(name)
        if name in {c.name for c in self.controls} | {"button", "status", "output", "widget"}:
            self._build()
            return self._widgets[name]
        raise AttributeError(name)

    def _build(self) -> None:
        if self._built:
            return
        import ipywidgets as w

        made: dict[str, Any] = {}
        for c in self.controls:
            layout = w.Layout(width=c.width)
            if c.kind == "dropdown":
                made[c.name] = w.Dropdown(options=c.options, value=c.value,
                                          description=c.label, layout=layout)
            elif c.kind == "text":
                made[c.name] = w.Text(value=c.value, description=c.label,
                                      placeholder=c.placeholder, layout=layout,
                                      continuous_update=True)
            else:
                raise ValueError(f"unknown control kind {c.kind!r}; use dropdown or text")
        made["button"] = w.Button(description=self.button_label, button_style="primary",
                                  layout=w.Layout(width="auto"))
        made["status"] = w.HTML()
        made["output"] = w.Output()
        self._widgets = made
        self._built = True
        for name, widget in made.items():
            if name in {c.name for c in self.controls}:
                widget.observe(lambda change, n=name: self.on_change(n, change["new"]),
                               names="value")
        made["button"].on_click(lambda _button: self.show())
        rows, row = [], []
        for c in self.controls:  # a class dropdown shares its row with its query box
            row.append(made[c.name])
            if c.name not in self.links:
                rows.append(w.HBox(row))
                row = []
        rows[-1] = w.HBox([*rows[-1].children, made["button"]])
        made["widget"] = w.VBox([*rows, made["status"], made["output"]])

    def on_change(self, name: str, value) -> None:
        """A control changed: keep linked class and query consistent (picking a class fills
        the query with one of its captions; typing other words resets the class to "your own
        words"). Subclasses may extend it."""
        for klass, box in self.links.items():
            if name == klass and value is not None:
                if self._widgets[box].value not in self.captions.get(value, []):
                    self._widgets[box].value = self.captions[value][0]
            elif name == box:
                current = self._widgets[klass].value
                if current is not None and value not in self.captions.get(current, []):
                    self._widgets[klass].value = None

    def class_options(self) -> list[tuple[str, Any]]:
        """The options of a class dropdown linked to a query box: "your own words" and every
        class with captions."""
        return [(self.FREE_TEXT, None)] + [(_pretty(c), c) for c in self.captions]

    def show(self) -> Panel | None:
        """What the button does: render the current state into the output area; a
        ``ValueError`` (an empty query, say) is shown in the status line instead, and the last
        good panel stays."""
        from IPython.display import HTML

        self._build()
        self.status.value = "<i>working…</i>"
        try:
            panel = self.render(self.state)
        except ValueError as err:
            self.error = str(err)
            self.status.value = f'<span style="color:#b00020">{html.escape(self.error)}</span>'
            return None
        self.error = None
        self.panel = panel
        self.status.value = html.escape(panel.status)
        self.output.outputs = ()
        for item in panel.items:
            self.output.append_display_data(HTML(_item_html(item)))
        return panel

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _mixture_options(mixtures: Sequence[dict]) -> list[tuple[str, int]]:
    return [(f"{i + 1}. {describe_mixture(m)}", i) for i, m in enumerate(mixtures)]


def _quoted(query: str, width: int = 40) -> str:
    import textwrap

    return "“" + textwrap.shorten(query, width) + "”"


# ----------------------------------------------------------------------------- introduction
class _MixtureQueryPicker(Picker):
    """A picker whose controls are a mixture, a class and a query (the class menu fills the
    query box with one of its captions): the :class:`QueryPicker`'s and the
    :class:`MaskPicker`'s."""

    def __init__(self, model, mixtures: Sequence[dict] | None = None, captions=None):
        self.model = model
        self.mixtures = list(mixtures) if mixtures is not None else _demo_mixtures(
            model.sample_rate
        )
        if not self.mixtures:
            raise ValueError("need at least one mixture")
        self.captions = dict(CAPTIONS if captions is None else captions)
        first = self.mixtures[0]["label"]
        self.controls = [
            dropdown("mixture", "mixture", _mixture_options(self.mixtures), 0, width="32em"),
            dropdown("classes", "class", self.class_options(), first),
            text("query", "query", self.captions[first][0],
                 placeholder="describe the sound to extract"),
        ]
        self.links = {"classes": "query"}
        super().__init__()


class QueryPicker(_MixtureQueryPicker):
    """An ipywidgets query picker for a :class:`~lassnet.model.LASSModel` (the introduction).

    A mixture dropdown (``mixtures``: items of :func:`lassnet.data.evaluation_mixtures` with
    ``return_sources=True``; default four of the test split), a class dropdown (picking a
    class fills the query box with one of its captions), a free-text query box and a
    "Separate" button. A click separates the chosen mixture by the query
    (:meth:`LASSModel.inspect <lassnet.model.LASSModel.inspect>`) and shows
    :func:`lassnet.plot.plot_separation`'s figure and the :func:`audio_players` below. The
    reference is the chosen class's sound in the mixture; editing the query into something
    that is not a caption of that class resets the class to "your own words" (no reference).

    Display the picker as the last expression of a cell (or ``display(picker.widget)``).
    Controls: ``mixture``, ``classes``, ``query``; ``result`` is the last
    :class:`~lassnet.model.Separation` shown. :func:`static_demo` is its static form.
    """

    button_label = "Separate"

    @property
    def result(self) -> Separation | None:
        return None if self.panel is None else self.panel.result

    def render(self, state: Mapping[str, Any]) -> Panel:
        index, label = state["mixture"], state["classes"]
        item = self.mixtures[index]
        result = self.model.inspect(
            item["mixture"], state["query"], reference=reference_for(item, label),
            reference_label=label, mixture_label=describe_mixture(item),
        )
        scores = result.scores
        status = (f"SI-SDR improvement: {scores['si_sdri']:+.1f} dB" if scores else
                  "no reference for this query: listen and look")
        return Panel(f"Mixture {index + 1} ({describe_mixture(item)}), query "
                     f"“{result.query}”.", status,
                     [Shown(plot_separation(result), _separation_alt(result)),
                      audio_players(result)], result)

    def default_states(self) -> list[dict]:
        return [self.full_state({"mixture": i, "query": q, "classes": c})
                for i, q, c in default_examples(self.mixtures)]

    def separate(self) -> Separation | None:
        """What the button does: separate, then show the figure and players in ``output``."""
        panel = self.show()
        return None if panel is None else panel.result


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
    """The :class:`QueryPicker`'s panels for a few fixed queries, as static figures and audio
    players, for pages where no kernel runs. ``mixtures``: items of
    :func:`lassnet.data.evaluation_mixtures` with ``return_sources=True`` (default: four of
    the test split). ``examples``: ``(mixture index, query, class or None)`` (default
    :func:`default_examples`). Returns the separations (:meth:`LASSModel.inspect
    <lassnet.model.LASSModel.inspect>`) and displays them unless ``show=False``."""
    picker = QueryPicker(model, mixtures)
    states = None if examples is None else [
        {"mixture": i, "query": q, "classes": c} for i, q, c in examples
    ]
    return [panel.result for panel in picker.static(states, show=show)]


# ----------------------------------------------------------------------------- chapter 3
class FiLMPicker(Picker):
    """Two queries on one mixture, seen through FiLM (chapter 3).

    Controls: ``mixture``; ``class_a`` and ``query_a``, ``class_b`` and ``query_b`` (as the
    :class:`QueryPicker`'s class and query); ``layer``, one of the network's residual blocks.
    A panel shows every conditioned layer's shift ``β`` (and scale ``γ``) for both queries
    (:func:`lassnet.plot.plot_film_shifts`), the chosen layer's feature maps under both and
    their difference (:func:`lassnet.plot.plot_feature_change`), both traced in one forward
    pass each by :func:`lassnet.introspect.film_trace`, and players for the mixture and both
    estimates. Default: the first query asks for the target, the second for the first
    interferer. ``result``: ``{"traces": {query: FiLMTrace}, "estimates": {query: (L,)}}``.
    """

    def __init__(self, model, mixtures: Sequence[dict] | None = None,
                 layer: str = "encoders.1.blocks.0", captions=None):
        self.model = model
        self.mixtures = list(mixtures) if mixtures is not None else _demo_mixtures(
            model.sample_rate)
        if not self.mixtures:
            raise ValueError("need at least one mixture")
        self.captions = dict(CAPTIONS if captions is None else captions)
        blocks = [key.rsplit(".", 1)[0] for key in model.separator.film.keys
                  if key.endswith(".bn1")]  # every residual block's first FiLM layer
        if layer not in blocks:
            raise ValueError(f"layer must be one of the residual blocks {blocks}, got {layer!r}")
        first = self.mixtures[0]
        other = (list(first.get("interferer_labels", [])) or [None])[0]
        self.controls = [
            dropdown("mixture", "mixture", _mixture_options(self.mixtures), 0, width="32em"),
            dropdown("class_a", "class A", self.class_options(), first["label"]),
            text("query_a", "query A", first["caption"]),
            dropdown("class_b", "class B", self.class_options(), other),
            text("query_b", "query B",
                 self.captions[other][0] if other else "rain falling on a roof"),
            dropdown("layer", "layer", [(b, b) for b in blocks], layer, width="22em"),
        ]
        self.links = {"class_a": "query_a", "class_b": "query_b"}
        super().__init__()

    def render(self, state: Mapping[str, Any]) -> Panel:
        from .introspect import film_trace
        from .model import whole_hop_length
        from .plot import plot_feature_change, plot_film_shifts

        queries = [str(state["query_a"]).strip(), str(state["query_b"]).strip()]
        if not all(queries):
            raise ValueError("type both queries: short descriptions of two sounds")
        if queries[0] == queries[1]:
            raise ValueError("the two queries are the same; change one to compare them")
        item = self.mixtures[state["mixture"]]
        net = self.model.separator
        wave = item["mixture"].reshape(-1)
        length = wave.shape[-1]
        device = next(net.parameters()).device
        x = torch.nn.functional.pad(wave, (0, whole_hop_length(length, net.stft) - length))
        x = x[None, None].to(device)  # (1, 1, L')
        embeddings = self.model.embed(queries)  # (2, D)
        traces = {q: film_trace(net, x, embeddings[k : k + 1], state["layer"])
                  for k, q in enumerate(queries)}
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():  # both queries in one batch: (2, 1, L') -> (L,) each
                out = net(x.expand(2, -1, -1), embeddings)[:, 0, :length].cpu()
        finally:
            net.train(was_training)
        estimates = dict(zip(queries, out, strict=True))
        a, b = traces.values()
        beta_a, beta_b = torch.cat(a.betas), torch.cat(b.betas)
        cosine = float(torch.nn.functional.cosine_similarity(embeddings[:1], embeddings[1:]))
        change = float((a.maps - b.maps).norm() / a.maps.norm().clamp_min(1e-12))
        status = (f"embeddings' cosine similarity {cosine:.2f}; β differs by "
                  f"{float((beta_a - beta_b).square().mean().sqrt()):.2f} RMS over "
                  f"{beta_a.numel()} channels; {state['layer']}'s output differs by "
                  f"{change:.0%} (‖A − B‖ / ‖A‖)")
        clips = [("mixture", wave)] + [(f"estimate: {_quoted(q)}", e)
                                       for q, e in estimates.items()]
        return Panel(f"Mixture {state['mixture'] + 1} ({describe_mixture(item)}): "
                     f"{_quoted(queries[0])} against {_quoted(queries[1])}.", status,
                     [Shown(plot_film_shifts(traces),
                            f"FiLM's shift β (and scale γ) of every conditioned layer, channel "
                            f"by channel, for {_quoted(queries[0])} and {_quoted(queries[1])}: "
                            f"where the two queries' values differ, the query changes the "
                            f"layer."),
                      Shown(plot_feature_change(traces),
                            f"Feature maps of {state['layer']} under each query and their "
                            f"difference, frequency against time; bright areas of the "
                            f"difference are what the query switched on or off."),
                      players(clips, net.config.sample_rate)],
                     {"traces": traces, "estimates": estimates})

    def default_states(self) -> list[dict]:
        """The first mixture's target against its first interferer, then the second
        mixture's likewise."""
        states = []
        for i, item in enumerate(self.mixtures[:2]):
            others = list(item.get("interferer_labels", []))
            if others:
                states.append(self.full_state({
                    "mixture": i, "class_a": item["label"], "query_a": item["caption"],
                    "class_b": others[0], "query_b": self.captions[others[0]][0]}))
        return states or [self.defaults]


# ----------------------------------------------------------------------------- chapter 5
_ORACLE_TITLES = {"oracle_irm": "ideal ratio mask", "oracle_psm": "phase-sensitive mask",
                  "oracle_iam_phase": "amplitude mask + ideal rotation"}


class MaskPicker(_MixtureQueryPicker):
    """The trained model's masks beside the oracle masks (chapter 5).

    Controls: ``mixture``, ``classes`` and ``query`` (as the :class:`QueryPicker`'s). A
    panel shows the model's magnitude mask and phase rotation (:meth:`LASSModel.inspect
    <lassnet.model.LASSModel.inspect>`) next to the three oracles computed from the chosen
    class's true sound (:func:`lassnet.evaluate.oracle_masks`: ideal ratio, phase-sensitive,
    amplitude with the ideal rotation), each titled with its SI-SDRi, and a player for
    each. A query in the user's own words has no reference: only the model's masks show.
    ``result``: ``{"model": Separation, "scores": {method: SI-SDRi}, "oracles": ...}``.
    """

    button_label = "Separate"

    def render(self, state: Mapping[str, Any]) -> Panel:
        from .evaluate import oracle_masks
        from .metrics import si_sdr
        from .model import whole_hop_length
        from .plot import plot_mask_comparison

        item, label = self.mixtures[state["mixture"]], state["classes"]
        reference = reference_for(item, label)
        result = self.model.inspect(item["mixture"], state["query"], reference=reference,
                                    reference_label=label, mixture_label=describe_mixture(item))
        sr, stft = result.sample_rate, self.model.separator.stft
        mix, length = result.mixture, result.mixture.shape[-1]

        def gain(estimate: torch.Tensor) -> float:
            return float(si_sdr(estimate, reference) - si_sdr(mix, reference))

        columns = [{"title": f"model: {_quoted(result.query, 60)}", "mask": result.mag_mask,
                    "angle": result.phase_angle}]
        clips = [("mixture", mix), (f"model: {_quoted(result.query)}", result.estimate)]
        scores, oracles = {}, {}
        if reference is not None:
            scores["model"] = gain(result.estimate)
            columns[0]["title"] += f"\nSI-SDRi {scores['model']:+.1f} dB"
            pad = (0, whole_hop_length(length, stft) - length)  # the grid inspect used
            oracles = oracle_masks(stft, torch.nn.functional.pad(mix, pad),
                                   torch.nn.functional.pad(reference, pad))
            for name, oracle in oracles.items():
                estimate = oracle["estimate"][:length]
                scores[name] = gain(estimate)
                columns.append({"title": f"{_ORACLE_TITLES[name]}\nSI-SDRi "
                                         f"{scores[name]:+.1f} dB",
                                "mask": oracle["mask"], "angle": oracle["angle"]})
                clips.append((_ORACLE_TITLES[name], estimate))
            clips.append((f"reference: {_pretty(label)}", reference))
            status = "SI-SDRi: " + ", ".join(
                f"{'model' if m == 'model' else _ORACLE_TITLES[m]} {v:+.1f} dB"
                for m, v in scores.items())
        else:
            status = "no reference for this query: the oracles need the true sound"
        n_fft = int(round(sr / float(result.freqs[1] - result.freqs[0])))
        figure = Shown(plot_mask_comparison(columns, sr, result.hop_length, n_fft),
                       "Magnitude masks (top row) and phase rotations (bottom row), frequency "
                       "against time, of " + ", ".join(
                           c["title"].replace("\n", ", ") for c in columns) + ".")
        return Panel(f"Mixture {state['mixture'] + 1} ({describe_mixture(item)}), query "
                     f"“{result.query}”.", status, [figure, players(clips, sr)],
                     {"model": result, "scores": scores, "oracles": oracles})

    def default_states(self) -> list[dict]:
        return [self.full_state({"mixture": i, "query": q, "classes": c})
                for i, q, c in default_examples(self.mixtures)]


# ----------------------------------------------------------------------------- chapter 8
class EvalExplorer(Picker):
    """One mixture of the evaluation protocol, up close (chapter 8).

    ``mixtures``: the protocol's items with their interferers
    (:func:`lassnet.data.evaluation_mixtures` with ``return_sources=True``). Controls:
    ``classes`` (a target class; it narrows the ``mixture`` menu to that class's mixtures),
    ``mixture`` and ``query``: ``"target"`` (the target's caption, scored against the
    target, as the protocol's model rows), ``"wrong"`` (the first interferer's caption,
    scored against the target: the wrong-query control) or ``"swap"`` (the same caption,
    scored against that interferer: the query swap). The separation is
    :func:`lassnet.evaluate.evaluate_model`'s (the separator on the whole clip), so the
    scores are the report's. A panel shows SI-SDRi, SDRi and BSS Eval's SDR, SIR and SAR,
    spectrograms of mixture, estimate, reference and residual (estimate − reference) on one
    colour scale, and players. ``result``: ``{"scores": {...}, "estimate": (L,),
    "reference": (L,), "caption": str}``.
    """

    QUERIES = [("the target's caption", "target"),
               ("wrong query: an interferer's caption, scored against the target", "wrong"),
               ("query swap: an interferer's caption, scored against it", "swap")]

    def __init__(self, model, mixtures: Sequence[dict], captions=None):
        self.model = model
        self.mixtures = list(mixtures)
        if not self.mixtures:
            raise ValueError("need at least one mixture")
        if any(m.get("interferers") is None for m in self.mixtures):
            raise ValueError("the explorer needs each mixture's interferers: draw them with "
                             "evaluation_mixtures(..., return_sources=True)")
        self.captions = dict(CAPTIONS if captions is None else captions)
        labels = sorted({m["label"] for m in self.mixtures})
        counts = {lab: sum(m["label"] == lab for m in self.mixtures) for lab in labels}
        first = self.mixtures[0]["label"]
        self.controls = [
            dropdown("classes", "class", [(f"{_pretty(lab)} (n={counts[lab]})", lab)
                                          for lab in labels], first, width="20em"),
            dropdown("mixture", "mixture", self._options(first), 0, width="32em"),
            dropdown("query", "query", self.QUERIES, "target", width="32em"),
        ]
        super().__init__()

    def _options(self, label: str) -> list[tuple[str, int]]:
        return [(f"{i + 1}. {describe_mixture(m)}", i) for i, m in enumerate(self.mixtures)
                if m["label"] == label]

    def on_change(self, name: str, value) -> None:
        if name == "classes":
            options = self._options(value)
            self._widgets["mixture"].options = options
            self._widgets["mixture"].value = options[0][1]

    def render(self, state: Mapping[str, Any]) -> Panel:
        from .metrics import bss_eval, sdr, si_sdr
        from .plot import plot_example

        index, kind = state["mixture"], state["query"]
        if kind not in {v for _, v in self.QUERIES}:
            raise ValueError(f"query must be one of target, wrong, swap; got {kind!r}")
        item = self.mixtures[index]
        mix = item["mixture"].reshape(1, 1, -1)  # (1, 1, L)
        other = list(item["interferer_labels"])[0]
        if kind == "target":
            caption, reference, name = item["caption"], item["target"], item["label"]
        else:
            caption = self.captions[other][0]
            reference, name = ((item["target"], item["label"]) if kind == "wrong" else
                               (item["interferers"][0], other))
        ref = reference.reshape(1, 1, -1)
        net = self.model.separator
        device = next(net.parameters()).device
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                est = net(mix.to(device), self.model.embed([caption])).cpu()  # (1, 1, L)
        finally:
            net.train(was_training)
        mix64, est64, ref64 = mix.double(), est.double(), ref.double()
        bss = {k: float(v) for k, v in bss_eval(est64, ref64, mix64).items()}
        scores = {"si_sdri": float(si_sdr(est64, ref64) - si_sdr(mix64, ref64)),
                  "sdri": float(sdr(est64, ref64) - sdr(mix64, ref64)),
                  "bss_sdr": bss["sdr"], "sir": bss["sir"], "sar": bss["sar"]}
        status = (f"SI-SDRi {scores['si_sdri']:+.1f} dB, SDRi {scores['sdri']:+.1f} dB; "
                  f"BSS Eval: SDR {scores['bss_sdr']:.1f} dB, SIR {scores['sir']:.1f} dB, "
                  f"SAR {scores['sar']:.1f} dB")
        sr = net.config.sample_rate
        e, r = est[0, 0], ref[0, 0]
        waves = {"mixture": mix[0, 0], f"estimate: {_quoted(caption, 30)}": e,
                 f"reference: {_pretty(name)}": r, "residual: estimate − reference": e - r}
        title = (f"Mixture {index + 1} ({describe_mixture(item)}), "
                 f"{next(t for t, v in self.QUERIES if v == kind)}.")
        figure = Shown(plot_example(waves, sr, panel_size=(3.2, 2.5)),
                       "Spectrograms on one colour scale, frequency against time, of the "
                       + ", ".join(waves) + f". {status}.")
        return Panel(title, status, [figure, players(list(waves.items()), sr)],
                     {"scores": scores, "estimate": e, "reference": r, "caption": caption})

    def default_states(self) -> list[dict]:
        """The first mixture asked for its target, by the wrong query, and swapped."""
        return [{"classes": self.mixtures[0]["label"], "mixture": 0, "query": kind}
                for _, kind in self.QUERIES]

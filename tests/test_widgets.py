"""The demo's user interface: audio players, the static demo and the ipywidgets query picker
driven without a front end. (Its layers are tested where they live: the demo mixtures in
test_data_mixtures.py, LASSModel.inspect in test_model.py, plot_separation in test_plot.py.)"""

from __future__ import annotations

import re

import pytest
import torch

from lassnet import widgets
from lassnet.data import describe_mixture, evaluation_mixtures, reference_for
from lassnet.model import LASSModel
from lassnet.separator import SeparationNet
from lassnet.testing import LetterEncoder

SR = 16000


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    encoder = LetterEncoder()
    return LASSModel(SeparationNet.from_preset("tiny", condition_dim=encoder.dim).eval(), encoder)


@pytest.fixture(scope="module")
def mixtures():
    return evaluation_mixtures(count=2, n_interferers=2, sample_rate=SR, duration=1.0,
                               return_sources=True)


def test_audio_players(model, mixtures):
    item = mixtures[0]
    query = "a <b>bell</b> & more"
    with_ref = model.inspect(item["mixture"], query, reference=item["target"])
    html = widgets.audio_players(with_ref)
    assert html.count("<audio") == 3 and "&lt;b&gt;bell" in html and "<b>bell" not in html
    assert "reference: target" in html  # no label given
    bare = model.inspect(item["mixture"], "a bell")
    assert widgets.audio_players(bare).count("<audio") == 2
    # every player's accessible name says what it plays (and is escaped)
    assert 'aria-label="mixture"' in html and 'aria-label="reference: target"' in html
    assert 'aria-label="estimate: “a &lt;b&gt;bell&lt;/b&gt; &amp; more”"' in html


def test_player_is_labelled_and_plays_the_wave():
    import base64
    import io

    import numpy as np
    import soundfile as sf

    wave = 0.5 * torch.sin(torch.linspace(0, 200, SR // 4))
    shown = widgets.player(wave, SR, "a sine, <quiet>")
    markup = shown._repr_html_()
    assert "<figcaption" in markup and "a sine, &lt;quiet&gt;</figcaption>" in markup
    assert 'aria-label="a sine, &lt;quiet&gt;"' in markup and markup.count("<audio") == 1
    data = re.search(r'src="data:audio/wav;base64,([^"]+)"', markup).group(1)
    decoded, rate = sf.read(io.BytesIO(base64.b64decode(data)))
    assert rate == SR and decoded.shape == (SR // 4,)
    np.testing.assert_allclose(decoded, wave.numpy() / wave.abs().max().item(), atol=1e-4)
    as_is = widgets.player(wave.numpy(), SR, "as is", normalize=False)._repr_html_()
    data = re.search(r'base64,([^"]+)"', as_is).group(1)
    np.testing.assert_allclose(sf.read(io.BytesIO(base64.b64decode(data)))[0], wave.numpy(),
                               atol=1e-4)
    with pytest.raises(ValueError, match="label"):
        widgets.player(wave, SR, "  ")


def test_figure_html_carries_its_alternative_text():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    markup = widgets.figure_html(fig, 'a rising "line"', caption="Look at the slope")
    assert 'alt="a rising &quot;line&quot;"' in markup and "data:image/png;base64," in markup
    assert "<figcaption" in markup and "Look at the slope" in markup
    assert not plt.fignum_exists(fig.number)  # closed once drawn
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="alternative text"):
        widgets.figure_html(fig, " ")
    with pytest.raises(TypeError, match="Shown"):
        widgets._item_html(fig)
    plt.close(fig)


def test_static_demo_default_examples(model, mixtures):
    results = widgets.static_demo(model, mixtures, show=False)
    first, interferer, second = results
    assert first.reference_label == mixtures[0]["label"] and first.query == mixtures[0]["caption"]
    assert interferer.reference_label == mixtures[0]["interferer_labels"][0]
    torch.testing.assert_close(interferer.reference, mixtures[0]["interferers"][0])
    torch.testing.assert_close(interferer.mixture, first.mixture)
    assert second.reference_label == mixtures[1]["label"]
    assert all(r.scores is not None for r in results)
    assert first.mixture_label == describe_mixture(mixtures[0])
    # The demo shows exactly what LASSModel.inspect computes.
    label = mixtures[1]["label"]
    direct = model.inspect(mixtures[1]["mixture"], mixtures[1]["caption"],
                           reference=reference_for(mixtures[1], label))
    torch.testing.assert_close(second.estimate, direct.estimate)
    torch.testing.assert_close(second.mag_mask, direct.mag_mask)


def test_static_demo_displays_figures_and_players(model, mixtures, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: shown.extend(objs))
    widgets.static_demo(model, mixtures, examples=[(1, "a bell", None)])
    kinds = [type(obj).__name__ for obj in shown]
    assert kinds == ["Markdown", "HTML", "HTML", "HTML"]
    assert '<img src="data:image/png;base64,iVBORw0KGgo' in shown[1].data  # a PNG
    assert 'alt="Spectrograms of the mixture, estimate for the query “a bell”' in shown[1].data
    assert shown[2].data.count("<audio") == 2


# ----------------------------------------------------------------------------- the widget
@pytest.fixture()
def picker(model, mixtures):
    pytest.importorskip("ipywidgets")
    return widgets.QueryPicker(model, mixtures)


def test_picker_class_fills_caption_and_free_text_resets_it(picker, mixtures):
    first = mixtures[0]["label"]
    assert picker.classes.value == first
    assert picker.query.value == picker.captions[first][0]
    picker.classes.value = "rain"
    assert picker.query.value == picker.captions["rain"][0]
    picker.query.value = picker.captions["rain"][1]  # another caption of the same class
    assert picker.classes.value == "rain"
    picker.query.value = "a kettle whistling"  # the user's own words
    assert picker.classes.value is None and picker.query.value == "a kettle whistling"


def test_picker_click_separates_and_shows(picker, mixtures):
    picker.mixture.value = 1
    picker.classes.value = mixtures[1]["label"]
    picker.button.click()
    result = picker.result
    assert result is not None and picker.error is None
    torch.testing.assert_close(result.mixture, mixtures[1]["mixture"][0])
    torch.testing.assert_close(result.reference, mixtures[1]["target"][0])
    data = [out["data"] for out in picker.output.outputs]
    assert len(data) == 2 and 'src="data:image/png;base64,' in data[0]["text/html"]
    assert 'alt="Spectrograms of the mixture' in data[0]["text/html"]
    assert data[1]["text/html"].count("<audio") == 3
    assert "SI-SDR" in picker.status.value
    # A second click replaces the panels instead of adding to them.
    picker.query.value = "a kettle whistling"
    picker.button.click()
    assert picker.result.reference is None and picker.result.query == "a kettle whistling"
    assert len(picker.output.outputs) == 2
    assert picker.output.outputs[1]["data"]["text/html"].count("<audio") == 2


def test_picker_defaults_to_four_demo_mixtures_with_their_sources(model):
    pytest.importorskip("ipywidgets")
    picker = widgets.QueryPicker(model)
    assert len(picker.mixtures) == 4
    assert len({m["label"] for m in picker.mixtures}) == 4
    assert all(m["interferers"].shape == (2, 4 * SR) for m in picker.mixtures)
    assert picker.mixture.options[0][0] == "1. " + describe_mixture(picker.mixtures[0])


def test_picker_reports_an_empty_query(picker):
    picker.button.click()
    kept = picker.result
    picker.query.value = "  "
    picker.button.click()
    assert picker.result is kept and picker.error
    assert "query" in picker.status.value
    assert len(picker.output.outputs) == 2  # the last good result stays on screen


# ----------------------------------------------------------------------------- the design
class _Echo(widgets.Picker):
    """A picker that renders its state: the smallest use of the design."""

    def __init__(self):
        self.controls = [widgets.dropdown("colour", "colour", [("red", "r"), ("blue", "b")]),
                         widgets.text("words", "words", "hello")]
        super().__init__()

    def render(self, state):
        if not state["words"].strip():
            raise ValueError("type some words")
        return widgets.Panel(f"{state['colour']}", f"said {state['words']}",
                             [f"<p>{state['colour']}:{state['words']}</p>"], dict(state))


def test_picker_design_static_without_a_form(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: shown.extend(objs))
    picker = _Echo()
    panels = picker.static([{"colour": "b"}, {"words": "bye"}])
    assert [p.result for p in panels] == [{"colour": "b", "words": "hello"},
                                          {"colour": "r", "words": "bye"}]
    assert [type(o).__name__ for o in shown] == ["Markdown", "HTML", "HTML"] * 2
    assert shown[0].data == "**b** said hello" and shown[1].data == "<p>b:hello</p>"
    assert not picker._built  # static pages never build the ipywidgets form
    with pytest.raises(ValueError, match="no control named 'size'"):
        picker.static([{"size": 3}], show=False)
    with pytest.raises(ValueError, match="at least one option"):
        widgets.dropdown("empty", "empty", [])


def test_picker_design_form_renders_the_current_state():
    pytest.importorskip("ipywidgets")
    picker = _Echo()
    picker.colour.value = "b"
    picker.words.value = "again"
    assert picker.state == {"colour": "b", "words": "again"}
    picker.button.click()
    assert picker.panel.result == {"colour": "b", "words": "again"}
    assert picker.output.outputs[0]["data"]["text/html"] == "<p>b:again</p>"
    assert picker.status.value == "said again"
    picker.words.value = " "
    picker.button.click()
    assert picker.error == "type some words" and picker.panel.result["words"] == "again"
    assert "type some words" in picker.status.value


def _kinds(outputs):
    """"figure" for an image with alternative text, "html" for other markup."""
    return ["figure" if re.search(r'<img src="data:image/png;base64,[^"]+" alt="[^"]{20,}"',
                                  o["data"]["text/html"]) else "html" for o in outputs]


# ----------------------------------------------------------------------------- chapter 3
def test_film_picker_shows_both_queries_shifts_and_maps(model, mixtures):
    pytest.importorskip("ipywidgets")
    from lassnet.introspect import film_trace

    picker = widgets.FiLMPicker(model, mixtures)
    first = mixtures[0]
    assert picker.class_a.value == first["label"] and picker.query_a.value == first["caption"]
    other = first["interferer_labels"][0]
    assert picker.class_b.value == other and picker.query_b.value == picker.captions[other][0]
    picker.layer.value = "decoders.0.blocks.0"
    picker.button.click()
    assert picker.error is None
    assert _kinds(picker.output.outputs) == ["figure", "figure", "html"]
    assert picker.output.outputs[2]["data"]["text/html"].count("<audio") == 3
    traces = picker.panel.result["traces"]
    assert list(traces) == [first["caption"], picker.captions[other][0]]
    # The picker shows what film_trace records for each query's embedding.
    length = first["mixture"].shape[-1]
    x = torch.nn.functional.pad(first["mixture"], (0, -length % 256))[None]
    direct = film_trace(model.separator, x, model.embed([first["caption"]]),
                        "decoders.0.blocks.0")
    got = traces[first["caption"]]
    assert got.layer == "decoders.0.blocks.0" and got.has_gamma is False
    torch.testing.assert_close(got.maps, direct.maps)
    torch.testing.assert_close(torch.cat(got.betas), torch.cat(direct.betas))
    assert "cosine similarity" in picker.status.value
    picker.query_b.value = picker.query_a.value
    picker.button.click()
    assert "the same" in picker.error


def test_film_picker_static_and_a_bad_layer(model, mixtures):
    panels = widgets.FiLMPicker(model, mixtures).static(show=False)
    assert len(panels) == 2 and all(len(p.items) == 3 for p in panels)
    assert "Mixture 2" in panels[1].title
    with pytest.raises(ValueError, match="residual blocks"):
        widgets.FiLMPicker(model, mixtures, layer="encoders.9")


# ----------------------------------------------------------------------------- chapter 5
def test_mask_picker_scores_the_model_and_the_oracles(model, mixtures):
    from lassnet.evaluate import ORACLES, oracle_separation
    from lassnet.metrics import si_sdr

    picker = widgets.MaskPicker(model, mixtures)
    panel = picker.render(picker.full_state({"mixture": 1, "classes": mixtures[1]["label"],
                                             "query": mixtures[1]["caption"]}))
    result, scores = panel.result["model"], panel.result["scores"]
    assert list(scores) == ["model", *ORACLES]
    assert scores["model"] == pytest.approx(result.scores["si_sdri"], abs=1e-4)
    mix, tgt = mixtures[1]["mixture"][None], mixtures[1]["target"][None]  # (1, 1, L)
    stft = model.separator.stft
    for name in ORACLES:  # on a clip of whole hops, padding changes nothing
        est = oracle_separation(stft, mix, tgt, name[len("oracle_"):])
        assert scores[name] == pytest.approx(float(si_sdr(est, tgt) - si_sdr(mix, tgt)),
                                             abs=1e-3)
    figure, players = panel.items
    assert "Magnitude masks" in figure.alt and "phase-sensitive mask" in figure.alt
    assert len(figure.figure.axes) >= 8  # 2 rows x 4 columns, and colour bars
    assert players.count("<audio") == 6  # mixture, model, three oracles, reference
    assert "phase-sensitive" in panel.status
    own = picker.render(picker.full_state({"classes": None, "query": "a kettle whistling"}))
    assert own.result["scores"] == {} and own.items[1].count("<audio") == 2
    assert "no reference" in own.status


# ----------------------------------------------------------------------------- chapter 8
def test_eval_explorer_scores_are_the_reports(model):
    pytest.importorskip("ipywidgets")
    from lassnet.evaluate import evaluate_model

    items = evaluation_mixtures(count=3, n_interferers=2, sample_rate=SR, duration=1.0, seed=5,
                                return_sources=True)
    report = evaluate_model(model, mixtures=items, progress=False)
    explorer = widgets.EvalExplorer(model, items)
    for kind, method in [("target", "model"), ("wrong", "wrong_query"), ("swap", "query_swap")]:
        for i in range(len(items)):
            panel = explorer.render({"classes": items[i]["label"], "mixture": i, "query": kind})
            # The report scores in float32, the explorer in float64: equal to 0.01 dB.
            want = report.scores(method, "si_sdri")[i]
            assert panel.result["scores"]["si_sdri"] == pytest.approx(want, abs=1e-2)
            assert panel.result["scores"]["sdri"] == pytest.approx(
                report.scores(method, "sdri")[i], abs=1e-2)
            if method == "model":
                assert panel.result["scores"]["sir"] == pytest.approx(
                    report.scores("model", "sir")[i], abs=1e-2)
    swap = explorer.render({"classes": items[0]["label"], "mixture": 0, "query": "swap"})
    torch.testing.assert_close(swap.result["reference"], items[0]["interferers"][0])
    assert "SIR" in swap.status and swap.items[1].count("<audio") == 4
    # Picking a class narrows the mixtures to that class's.
    label = items[2]["label"]
    explorer.classes.value = label
    assert [v for _, v in explorer.mixture.options] == [
        i for i, it in enumerate(items) if it["label"] == label]
    explorer.button.click()
    assert explorer.panel.result["caption"] == items[explorer.mixture.value]["caption"]
    assert len(explorer.static(show=False)) == 3
    with pytest.raises(ValueError, match="return_sources=True"):
        widgets.EvalExplorer(model, evaluation_mixtures(count=1, sample_rate=SR, duration=1.0))

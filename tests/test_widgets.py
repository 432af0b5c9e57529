"""The demo's user interface: audio players, the static demo and the ipywidgets query picker
driven without a front end. (Its layers are tested where they live: the demo mixtures in
test_data_mixtures.py, LASSModel.inspect in test_model.py, plot_separation in test_plot.py.)"""

from __future__ import annotations

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
    assert kinds == ["Markdown", "Image", "HTML", "HTML"]
    assert shown[1].data.startswith(b"\x89PNG")
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
    assert len(data) == 2 and "image/png" in data[0]
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

"""The demo's core (separation with masks, figures, players, static demo) and the ipywidgets
query picker driven without a front end."""

from __future__ import annotations

import pytest
import torch

from lassnet import widgets
from lassnet.data import CLASSES
from lassnet.masks import apply_masks, ideal_ratio_mask
from lassnet.metrics import si_sdr
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
    return widgets.demo_mixtures(SR, count=2, n_interferers=2, duration=1.0)


# ----------------------------------------------------------------------------- mixtures
def test_demo_mixtures_are_reproducible_with_all_sources(mixtures):
    again = widgets.demo_mixtures(SR, count=2, n_interferers=2, duration=1.0)
    assert len(mixtures) == 2 and mixtures[0]["label"] != mixtures[1]["label"]
    for a, b in zip(mixtures, again, strict=True):
        torch.testing.assert_close(a["mixture"], b["mixture"])
        assert a["interferer_labels"] == b["interferer_labels"]
    item = mixtures[0]
    assert item["mixture"].shape == (1, SR) and item["interferers"].shape == (2, SR)
    assert item["label"] not in item["interferer_labels"]
    parts = item["target"] + item["interferers"].sum(0, keepdim=True)
    torch.testing.assert_close(item["mixture"], parts, atol=1e-5, rtol=0)
    other = widgets.demo_mixtures(SR, count=2, n_interferers=2, duration=1.0, seed=1)
    assert not torch.equal(other[0]["mixture"], item["mixture"])
    with pytest.raises(ValueError, match="count"):
        widgets.demo_mixtures(SR, count=0)


def test_reference_for_and_describe(mixtures):
    item = mixtures[0]
    torch.testing.assert_close(widgets.reference_for(item, item["label"]), item["target"][0])
    second = item["interferer_labels"][1]
    torch.testing.assert_close(widgets.reference_for(item, second), item["interferers"][1])
    absent = next(c for c in CLASSES if c != item["label"]
                  and c not in item["interferer_labels"])
    assert widgets.reference_for(item, absent) is None
    assert widgets.reference_for(item, None) is None
    text = widgets.describe_mixture(item)
    assert text.startswith(item["label"].replace("_", " ") + " + ")
    assert "_" not in text and text.count(",") == 1


# ----------------------------------------------------------------------------- the core
def test_masks_are_the_ones_that_made_the_estimate(model, mixtures):
    item = mixtures[0]
    result = widgets.separate_with_masks(model, item["mixture"], "  a bell ringing ")
    assert result.query == "a bell ringing" and result.sample_rate == SR
    assert result.estimate.shape == result.mixture.shape == (SR,)
    sep = model.separator
    frames = sep.stft.num_frames(SR + (-SR % sep.stft.hop_length))
    assert result.mag_mask.shape == (frames, sep.stft.n_bins) == result.phase_angle.shape
    assert 0 <= float(result.mag_mask.min()) and float(result.mag_mask.max()) <= 1
    assert float(result.phase_angle.abs().max()) <= torch.pi + 1e-6
    # Applying the returned masks to the mixture's STFT and inverting gives the estimate.
    padded = torch.nn.functional.pad(result.mixture, (0, -SR % sep.stft.hop_length))
    mag, cos, sin = sep.stft.magphase(padded[None, None])
    out = apply_masks(mag, cos, sin, result.mag_mask, result.phase_cos, result.phase_sin)
    rebuilt = sep.stft.inverse_magphase(*out, length=padded.shape[-1])[0, 0, :SR]
    torch.testing.assert_close(rebuilt, result.estimate, atol=1e-5, rtol=0)
    # ... and it is what the user-facing LASSModel.separate returns.
    torch.testing.assert_close(
        result.estimate, model.separate(item["mixture"][0], SR, "a bell ringing"),
        atol=1e-4, rtol=0,
    )
    assert result.reference is None and result.scores is None and result.oracle_mask is None


def test_reference_gives_scores_and_the_oracle_mask(model, mixtures):
    item = mixtures[1]
    ref = widgets.reference_for(item, item["label"])
    result = widgets.separate_with_masks(model, item["mixture"], item["caption"], reference=ref,
                                         reference_label=item["label"])
    scores = result.scores
    assert scores["mixture"] == pytest.approx(float(si_sdr(item["mixture"][0], ref)), abs=1e-4)
    assert scores["estimate"] == pytest.approx(float(si_sdr(result.estimate, ref)), abs=1e-4)
    assert scores["si_sdri"] == pytest.approx(scores["estimate"] - scores["mixture"])
    stft = model.separator.stft
    pad = (0, -SR % stft.hop_length)
    expected = ideal_ratio_mask(stft(torch.nn.functional.pad(ref, pad)[None, None]),
                                stft(torch.nn.functional.pad(item["mixture"][0], pad)[None, None]))
    torch.testing.assert_close(result.oracle_mask, expected[0, 0])
    assert result.oracle_mask.shape == result.mag_mask.shape


def test_different_queries_give_different_estimates(model, mixtures):
    mix = mixtures[0]["mixture"]
    a = widgets.separate_with_masks(model, mix, "a siren wailing").estimate
    b = widgets.separate_with_masks(model, mix, "a clock ticking").estimate
    assert (a - b).abs().max() > 1e-5


def test_bad_inputs(model, mixtures):
    mix = mixtures[0]["mixture"]
    with pytest.raises(ValueError, match="query"):
        widgets.separate_with_masks(model, mix, "   ")
    with pytest.raises(ValueError, match="differ"):
        widgets.separate_with_masks(model, mix, "a bell", reference=torch.zeros(100))
    with pytest.raises(ValueError, match="mono"):
        widgets.separate_with_masks(model, torch.zeros(2, SR), "a bell")
    with pytest.raises(ValueError, match="non-finite"):
        widgets.separate_with_masks(model, torch.full((SR,), float("nan")), "a bell")


# ----------------------------------------------------------------------------- figures, players
def test_figure_panels_share_one_colour_scale(model, mixtures):
    item = mixtures[0]
    result = widgets.separate_with_masks(
        model, item["mixture"], item["caption"], reference=item["target"],
        reference_label=item["label"], mixture_label=widgets.describe_mixture(item),
    )
    fig = widgets.plot_separation(result)
    panels = fig.axes[:6]
    spectrograms = [ax.images[0] for ax in panels[:3]]
    assert len({im.get_clim() for im in spectrograms}) == 1
    assert all(ax.images for ax in panels[3:])
    assert panels[3].images[0].get_clim() == (0.0, 1.0) == panels[4].images[0].get_clim()
    title = " ".join(panels[1].get_title().split())  # long titles are wrapped
    assert result.query in title and "SI-SDR" in title
    assert item["label"].replace("_", " ") in panels[2].get_title()
    # Without a reference the reference and oracle panels are left empty.
    bare = widgets.plot_separation(widgets.separate_with_masks(model, item["mixture"], "a bell"))
    assert not bare.axes[2].images and not bare.axes[4].images
    assert bare.axes[3].images and bare.axes[5].images
    assert "SI-SDR" not in bare.axes[1].get_title()


def test_audio_players(model, mixtures):
    item = mixtures[0]
    query = "a <b>bell</b> & more"
    with_ref = widgets.separate_with_masks(model, item["mixture"], query,
                                           reference=item["target"])
    html = widgets.audio_players(with_ref)
    assert html.count("<audio") == 3 and "&lt;b&gt;bell" in html and "<b>bell" not in html
    bare = widgets.separate_with_masks(model, item["mixture"], "a bell")
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


def test_picker_reports_an_empty_query(picker):
    picker.button.click()
    kept = picker.result
    picker.query.value = "  "
    picker.button.click()
    assert picker.result is kept and picker.error
    assert "query" in picker.status.value
    assert len(picker.output.outputs) == 2  # the last good result stays on screen

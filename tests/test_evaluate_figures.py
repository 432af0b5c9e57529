"""The figures of an evaluation (lassnet.plot) and evaluate's analysis helper (chapter 8)."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from lassnet.evaluate import EvalReport, active_fraction
from lassnet.plot import plot_example, plot_per_class
from lassnet.testing import report_with_scores


def _report() -> EvalReport:
    return report_with_scores(
        {"siren": {"model": 12.0, "oracle_irm": 20.0, "mixture": 0.0, "wrong_query": -9.0},
         "clock_ticking": {"model": 2.0, "oracle_irm": 18.0, "mixture": 0.0,
                           "wrong_query": -15.0}})


def test_plot_per_class_bars_sorted_by_model():
    fig = plot_per_class(_report())
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    # Worst class (by the model) at the bottom, best at the top.
    assert [t.get_text() for t in ax.get_yticklabels()] == ["clock ticking (n=2)",
                                                           "siren (n=2)"]
    bars = ax.patches
    assert len(bars) == 2 * 3  # 2 classes x (model, oracle_irm, wrong_query): no mixture
    widths = sorted(round(b.get_width(), 6) for b in bars)
    assert widths == [-15.0, -9.0, 2.0, 12.0, 18.0, 20.0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "model", "oracle_irm", "wrong_query"]
    # methods differ by hatching too, not by colour alone; every bar has its interval
    assert len({b.get_hatch() for b in bars}) == 3
    segments = [seg for c in ax.collections for seg in c.get_segments()]
    spans = sorted(round(abs(float(seg[1][0] - seg[0][0])), 6) for seg in segments)
    assert len(spans) == 6 and spans == [2.0] * 6  # each class: values ±1 around the mean
    only = plot_per_class(_report(), metric="sdri", methods=["oracle_irm"], intervals=False)
    assert len(only.axes[0].patches) == 2 and not only.axes[0].collections
    with pytest.raises(ValueError, match="methods"):
        plot_per_class(_report(), methods=["nope"])


def test_plot_example_shares_one_colour_scale():
    t = torch.arange(8000) / 16000
    loud = torch.sin(2 * torch.pi * 440 * t)
    fig = plot_example({"mixture": loud, "target": 0.01 * loud, "estimate": 0.1 * loud}, 16000,
                       title="siren")
    spectra = [ax for ax in fig.axes if ax.images]
    assert len(spectra) == 3
    limits = {ax.images[0].get_clim() for ax in spectra}
    assert len(limits) == 1  # one scale for all panels
    assert [ax.get_title() for ax in spectra] == ["mixture", "target", "estimate"]
    assert fig._suptitle.get_text() == "siren"
    with pytest.raises(ValueError):
        plot_example({}, 16000)


def test_active_fraction_separates_sparse_from_continuous():
    sr = 16000
    continuous = torch.randn(2 * sr)
    clicks = torch.zeros(2 * sr)
    clicks[:: sr // 4] = 1.0  # 8 clicks in 2 s: 8 of 62 frames of 32 ms
    frac = active_fraction(torch.stack([continuous, clicks, torch.zeros(2 * sr)]), sr)
    assert frac.shape == (3,)
    assert frac[0] > 0.95
    assert frac[1] == pytest.approx(8 / 62)
    assert frac[2] == 0.0
    # Batched like the metrics: (B, 1, L) -> (B, 1); numpy input works too.
    assert active_fraction(np.zeros((4, 1, 800)) + 1.0, sr).shape == (4, 1)
    with pytest.raises(ValueError):
        active_fraction(continuous, sr, threshold_db=3.0)

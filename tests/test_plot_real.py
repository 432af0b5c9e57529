"""plot_per_class_comparison: per-class scores of several evaluations (chapter 9)."""

import pytest
from matplotlib.figure import Figure

from lassnet.plot import plot_per_class_comparison
from lassnet.testing import report_with_scores

_report = report_with_scores  # class label: value ± 1 dB (two mixtures) per method


IN = _report({"siren": {"model": 12.0, "oracle_iam_phase": 26.0},
              "bell": {"model": 9.0, "oracle_iam_phase": 29.0},
              "rain": {"model": 8.0, "oracle_iam_phase": 28.0}})
OUT = _report({"siren": {"model": -12.0, "oracle_iam_phase": 28.0},
               "bell": {"model": 4.0, "oracle_iam_phase": 31.0},
               "rain": {"model": 6.0, "oracle_iam_phase": 27.0}})


def test_bars_are_the_per_class_means_in_order_of_the_drop():
    fig = plot_per_class_comparison({"in-recipe": IN, "out-of-recipe": OUT})
    assert isinstance(fig, Figure)
    model_ax, oracle_ax = fig.axes[:2]
    # The model's changes: siren -24, bell -5, rain -2 dB; largest drop at the top (last tick).
    assert [t.get_text() for t in model_ax.get_yticklabels()] == [
        "rain (Δ -2.0)", "bell (Δ -5.0)", "siren (Δ -24.0)"]
    assert model_ax.get_title() == "model" and oracle_ax.get_title() == "oracle_iam_phase"
    # Bars drawn per report: the first report's three classes, then the second's, bottom up.
    widths = [round(b.get_width(), 6) for b in model_ax.patches]
    assert widths == [8.0, 9.0, 12.0, 6.0, 4.0, -12.0]
    oracle = [round(b.get_width(), 6) for b in oracle_ax.patches]
    assert oracle == [28.0, 29.0, 26.0, 27.0, 31.0, 28.0]
    # The first report's bar of a class sits above the second's, and each class's bars
    # straddle its tick.
    ys = [b.get_y() + b.get_height() / 2 for b in model_ax.patches]
    for k in range(3):
        assert ys[k] > ys[3 + k]
        assert ys[k] - k == pytest.approx(k - ys[3 + k])
    assert [t.get_text() for t in fig.axes[-1].get_legend().get_texts()] == [
        "in-recipe", "out-of-recipe"]
    assert len({b.get_hatch() for b in model_ax.patches}) == 2


def test_intervals_are_drawn_per_bar_and_can_be_left_out():
    with_ci = plot_per_class_comparison({"a": IN, "b": OUT}, methods=("model",))
    without = plot_per_class_comparison({"a": IN, "b": OUT}, methods=("model",),
                                        intervals=False)
    assert len(with_ci.axes[0].collections) == 2      # one errorbar set per report
    assert len(without.axes[0].collections) == 0


def test_refuses_reports_that_cannot_be_compared():
    with pytest.raises(ValueError, match="at least two reports"):
        plot_per_class_comparison({"only": IN})
    with pytest.raises(ValueError, match="wrong_query"):
        plot_per_class_comparison({"a": IN, "b": OUT}, methods=("wrong_query",))
    fewer = _report({"siren": {"model": 1.0, "oracle_iam_phase": 2.0}})
    with pytest.raises(ValueError, match="same classes"):
        plot_per_class_comparison({"a": IN, "b": fewer})

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from lassnet.data import CLASSES
from lassnet.plot import plot_corpus, plot_similarity, plot_spectrogram, spectrogram_db


def _sine(freq, sr=16000, seconds=0.5, amp=1.0):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_spectrogram_db_scale_and_axes():
    spec, freqs, times = spectrogram_db(_sine(1000), 16000)
    assert spec.shape == (len(freqs), len(times)) == (257, 8000 // 128 + 1)
    assert freqs[-1] == pytest.approx(8000) and times[1] == pytest.approx(128 / 16000)
    frame = spec[:, len(times) // 2]
    assert freqs[frame.argmax()] == pytest.approx(1000, abs=16000 / 512)
    assert frame.max() == pytest.approx(0.0, abs=1.5)  # a full-scale sine reads ~0 dB
    quieter, _, _ = spectrogram_db(_sine(1000, amp=0.1), 16000)
    assert frame.max() - quieter[:, len(times) // 2].max() == pytest.approx(20.0, abs=0.1)
    silent, _, _ = spectrogram_db(np.zeros(4000), 16000, floor_db=-100)
    assert silent.min() == pytest.approx(-100)
    stereo = torch.stack([torch.from_numpy(_sine(500)), torch.zeros(8000)])
    assert spectrogram_db(stereo, 16000)[0].shape == spec.shape
    assert spectrogram_db(_sine(500, 32000), 32000, n_fft=256)[0].shape[0] == 129


def test_plot_spectrogram_returns_figure_without_pyplot():
    before = plt.get_fignums()
    fig = plot_spectrogram(_sine(2000), 16000, title="tone", max_freq=4000)
    assert isinstance(fig, Figure) and plt.get_fignums() == before
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "frequency (Hz)"
    assert ax.get_ylim() == (0, 4000) and ax.get_title() == "tone"
    assert len(fig.axes) == 2  # the spectrogram and its colour bar
    image = ax.images[0]
    assert image.get_clim()[1] - image.get_clim()[0] == pytest.approx(80.0)
    host = Figure()
    axes = host.subplots(1, 2)
    out = plot_spectrogram(
        torch.from_numpy(_sine(300))[None], 16000, ax=axes[1], colorbar=False, vmax=0.0, db_range=60
    )
    assert out is host and axes[1].images[0].get_clim() == (-60.0, 0.0)
    with pytest.raises(ValueError, match="non-finite"):
        plot_spectrogram(np.array([0.0, np.nan] * 600), 16000)
    with pytest.raises(ValueError, match="shape"):
        plot_spectrogram(np.zeros((2, 2, 600)), 16000)


def test_plot_corpus_grid(tmp_path):
    fig = plot_corpus(sample_rate=8000, duration=0.25, ncols=5)
    panels = [ax for ax in fig.axes if ax.images and ax.get_visible()]
    assert len(panels) == len(CLASSES)
    titles = [ax.get_title() for ax in panels]
    assert [t.split("\n")[0] for t in titles] == list(CLASSES)
    assert all("“" in t for t in titles)  # each panel shows its caption
    assert len({ax.images[0].get_clim() for ax in panels}) == 1  # one shared colour scale
    fig.savefig(tmp_path / "corpus.png", dpi=30)
    assert (tmp_path / "corpus.png").stat().st_size > 1000
    two = plot_corpus({"a": _sine(300), "b": _sine(900)}, sample_rate=16000, ncols=4)
    assert [ax.get_title() for ax in two.axes if ax.images] == ["a", "b"]
    with pytest.raises(ValueError, match="empty"):
        plot_corpus({})


def test_plot_similarity_labels_colours_groups_and_values():
    before = plt.get_fignums()
    sim = torch.tensor([[1.0, 0.8, 0.1], [0.8, 1.0, 0.2], [0.1, 0.2, 1.0]])
    labels = ["a siren", "a police siren", "rain"]
    fig = plot_similarity(sim, labels, labels, row_groups=["s", "s", "r"],
                          col_groups=["s", "s", "r"], title="cosine", colorbar_label="cos")
    assert isinstance(fig, Figure) and plt.get_fignums() == before
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == labels
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
    image = ax.images[0]
    np.testing.assert_allclose(image.get_array(), sim.numpy())
    assert image.get_clim() == pytest.approx((0.1, 1.0))  # the data's range by default
    # one group break on each axis: a horizontal and a vertical line at 1.5
    assert sorted(line.get_ydata()[0] for line in ax.lines if line.get_ydata()[0]
                  == line.get_ydata()[1]) == [1.5]
    assert any(line.get_xdata()[0] == line.get_xdata()[1] == 1.5 for line in ax.lines)
    assert ax.get_title() == "cosine" and len(fig.axes) == 2  # heat map + colour bar


def test_plot_similarity_confusion_counts_into_given_axes():
    confusion = np.array([[5, 1], [0, 6]])
    host = Figure()
    ax = host.add_subplot()
    out = plot_similarity(confusion, ["bell", "drum"], ["bell", "drum"], ax=ax, annotate=True,
                          fmt="d", vmin=0, colorbar=False, xlabel="predicted", ylabel="true")
    assert out is host and len(host.axes) == 1
    texts = [(t.get_position(), t.get_text()) for t in ax.texts]
    assert texts == [((0, 0), "5"), ((1, 0), "1"), ((0, 1), "0"), ((1, 1), "6")]
    assert ax.images[0].get_clim() == (0.0, 6.0)
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    # a dark cell gets white text, a bright one black (viridis: low is dark)
    colours = {t.get_text(): t.get_color() for t in ax.texts}
    assert colours["0"] == "white" and colours["6"] == "black"
    rect = plot_similarity(np.zeros((2, 5)) + 0.5)  # no labels, constant matrix
    assert rect.axes[0].images[0].get_array().shape == (2, 5)


@pytest.mark.parametrize(
    "matrix, kwargs, message",
    [
        (np.zeros(3), {}, "2-D"),
        (np.array([[0.0, np.nan]]), {}, "finite"),
        (np.zeros((2, 2)), {"row_labels": ["a"]}, "row_labels has 1 entries for 2 rows"),
        (np.zeros((2, 3)), {"col_labels": ["a", "b"]}, "col_labels"),
        (np.zeros((2, 2)), {"row_groups": ["a", "b", "c"]}, "row_groups"),
    ],
)
def test_plot_similarity_rejects_bad_input(matrix, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_similarity(matrix, **kwargs)


def test_new_figure_displays_in_a_fresh_kernel_without_touching_pyplot_elsewhere():
    """Inside IPython the first library figure loads pyplot (whose inline backend registers
    the image display of figures); outside IPython pyplot stays unloaded."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "{setup}"
        "import lassnet.plot as p\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "fig = p.new_figure(figsize=(2, 1))\n"
        "print(type(fig).__name__, 'matplotlib.pyplot' in sys.modules)\n"
    )
    ipython = ("from IPython.core.interactiveshell import InteractiveShell\n"
               "InteractiveShell.instance()\n")
    for setup, expected in (("", "Figure False"), (ipython, "Figure True")):
        out = subprocess.run([sys.executable, "-c", probe.format(setup=setup)],
                             capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from lassnet.data import CAPTIONS, CLASSES, corpus_examples
from lassnet.model import Separation
from lassnet.plot import (
    plot_corpus,
    plot_separation,
    plot_similarity,
    plot_spectrogram,
    plot_tf_map,
    shared_vmax,
    spectrogram_db,
)
from lassnet.stft import STFT


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


def test_shared_vmax_is_the_loudest_bin_of_all():
    loud, quiet = _sine(1000), _sine(1000, amp=0.01)
    top = shared_vmax([quiet, loud], 16000)
    assert top == pytest.approx(float(spectrogram_db(loud, 16000)[0].max()))
    assert top == pytest.approx(0.0, abs=1.5)  # a full-scale sine reads ~0 dB
    assert shared_vmax({"q": quiet, "l": torch.from_numpy(loud)}, 16000) == top  # a mapping
    assert shared_vmax([quiet], 16000) == pytest.approx(top - 40.0, abs=0.1)
    # The STFT settings are those of the panels: a longer window gathers more of a sine.
    long = shared_vmax([loud], 16000, n_fft=2048, hop_length=512)
    assert long == pytest.approx(float(spectrogram_db(loud, 16000, 2048, 512)[0].max()))
    with pytest.raises(ValueError, match="at least one"):
        shared_vmax([], 16000)


def test_plot_tf_map_places_frames_and_bins_on_the_stft_grid():
    sr, hop, n_fft = 16000, 256, 512
    frames, bins = 20, n_fft // 2 + 1
    values = torch.rand(frames, bins)
    before = plt.get_fignums()
    fig = plot_tf_map(values, sr, hop, title="a mask", vmin=0, vmax=1, colorbar_label="M")
    assert isinstance(fig, Figure) and plt.get_fignums() == before
    ax = fig.axes[0]
    image = ax.images[0]
    np.testing.assert_allclose(image.get_array(), values.T.numpy())  # frequency up
    dt, df = hop / sr, sr / n_fft
    left, right, bottom, top = image.get_extent()
    # Frame t is centred at t·hop/sr and bin f at f·sr/n_fft: each cell is one hop wide
    # and one bin high, centred on its frame and bin.
    assert (left, right) == pytest.approx((-dt / 2, (frames - 0.5) * dt))
    assert (bottom, top) == pytest.approx((-df / 2, (bins - 0.5) * df))
    for t, f in [(0, 0), (7, 100), (frames - 1, bins - 1)]:
        centre_x = left + (t + 0.5) * (right - left) / frames
        centre_y = bottom + (f + 0.5) * (top - bottom) / bins
        assert centre_x == pytest.approx(t * hop / sr)
        assert centre_y == pytest.approx(f * sr / n_fft)
    assert ax.get_ylim() == pytest.approx((0, sr / 2))
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "frequency (Hz)"
    assert ax.get_title() == "a mask" and image.get_clim() == (0, 1)
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "M"  # the colour bar


def test_plot_tf_map_lines_up_with_the_spectrogram_of_the_same_stft():
    sr, stft = 16000, STFT(512, 128)
    wave = torch.from_numpy(_sine(3000))
    spec = stft(wave[None, None])[0, 0]  # (T, F)
    host = Figure()
    axes = host.subplots(1, 2)
    plot_spectrogram(wave, sr, axes[0], n_fft=512, hop_length=128, colorbar=False)
    out = plot_tf_map(spec.abs(), sr, 128, axes[1], colorbar=False, max_freq=4000)
    assert out is host and len(host.axes) == 2
    assert axes[1].images[0].get_extent() == pytest.approx(axes[0].images[0].get_extent())
    assert axes[1].get_ylim() == (0, 4000)
    # The brightest cell is drawn at 3 kHz, as in the spectrogram.
    row = int(np.asarray(axes[1].images[0].get_array()).max(axis=1).argmax())
    assert row * sr / 512 == pytest.approx(3000, abs=sr / 512)


def test_plot_tf_map_cropped_maps_and_bad_input():
    sr, hop = 16000, 256
    cropped = np.zeros((10, 256))  # the U-Net's 256 of 257 bins: give n_fft
    fig = plot_tf_map(cropped, sr, hop, n_fft=512, colorbar=False)
    assert fig.axes[0].images[0].get_extent()[3] == pytest.approx(255.5 * sr / 512)
    with pytest.raises(ValueError, match="2-D"):
        plot_tf_map(np.zeros((1, 1, 4, 5)), sr, hop)
    with pytest.raises(ValueError, match="finite"):
        plot_tf_map(np.array([[0.0, np.nan]]), sr, hop)
    with pytest.raises(ValueError, match="abs"):
        plot_tf_map(torch.zeros(4, 5, dtype=torch.complex64), sr, hop)
    with pytest.raises(ValueError, match="n_fft"):
        plot_tf_map(np.zeros((4, 1)), sr, hop)


def _separation(reference: bool) -> Separation:
    """A made-up separation of a 1 kHz tone in noise on a 512 / 256 STFT at 16 kHz."""
    sr, stft = 16000, STFT(512, 256)
    torch.manual_seed(0)
    tone = torch.from_numpy(_sine(1000, seconds=1.0, amp=0.5))
    mixture = tone + 0.05 * torch.randn(sr)
    frames = stft.num_frames(sr)
    angle = torch.rand(frames, stft.n_bins) * 2 - 1
    return Separation(
        query="a tone", sample_rate=sr, mixture=mixture, estimate=0.9 * tone,
        mag_mask=torch.rand(frames, stft.n_bins), phase_cos=torch.cos(angle),
        phase_sin=torch.sin(angle), hop_length=256, freqs=stft.frequencies(sr).numpy(),
        reference=tone if reference else None, reference_label="pure_tone" if reference else None,
        oracle_mask=torch.rand(frames, stft.n_bins) if reference else None,
        mixture_label="tone + noise",
    )


def test_plot_separation_panels_share_scales_and_the_grid():
    result = _separation(reference=True)
    fig = plot_separation(result)
    panels = fig.axes[:6]
    spectrograms = [ax.images[0] for ax in panels[:3]]
    assert len({im.get_clim() for im in spectrograms}) == 1  # one colour scale
    assert spectrograms[0].get_clim()[1] == pytest.approx(
        shared_vmax([result.mixture, result.estimate, result.reference], 16000))
    assert all(ax.images for ax in panels[3:])
    assert panels[3].images[0].get_clim() == (0.0, 1.0) == panels[4].images[0].get_clim()
    assert panels[5].images[0].get_clim() == pytest.approx((-np.pi, np.pi))
    np.testing.assert_allclose(panels[3].images[0].get_array(), result.mag_mask.T.numpy())
    np.testing.assert_allclose(panels[5].images[0].get_array(), result.phase_angle.T.numpy(),
                               atol=1e-6)
    # The masks sit on the same grid as the spectrograms of the same STFT.
    assert panels[3].images[0].get_extent() == pytest.approx(
        plot_tf_map(result.mag_mask, 16000, 256).axes[0].images[0].get_extent())
    title = " ".join(panels[1].get_title().split())  # long titles are wrapped
    assert result.query in title and "SI-SDR" in title
    assert "pure tone" in panels[2].get_title() and "tone + noise" in panels[0].get_title()
    assert panels[0].get_xlim() == (0, 1.0) and panels[3].get_ylim() == (0, 8000)
    # Without a reference the reference and oracle panels are left empty.
    bare = plot_separation(_separation(reference=False))
    assert not bare.axes[2].images and not bare.axes[4].images
    assert bare.axes[3].images and bare.axes[5].images
    assert "SI-SDR" not in bare.axes[1].get_title()


def test_plot_corpus_grid(tmp_path):
    clips, captions = corpus_examples("test", 8000, 0.25)
    assert list(clips) == list(captions) == list(CLASSES)
    assert all(captions[c] in CAPTIONS[c] for c in CLASSES)  # each clip's own caption
    fig = plot_corpus(clips, 8000, captions=captions, ncols=5)
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
        plot_corpus({}, 16000)


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


# ----------------------------------------------------------------------------- FiLM and masks
def _traces(gamma: bool):
    from lassnet.introspect import film_trace
    from lassnet.separator import SeparationNet

    torch.manual_seed(0)
    net = SeparationNet.from_preset("tiny", condition_dim=8, film_gamma=gamma)
    mixture = torch.randn(1, 1, 4096) * 0.1
    e = torch.nn.functional.normalize(torch.randn(2, 8), dim=1)
    return {q: film_trace(net, mixture, e[k : k + 1], "encoders.1.blocks.0")
            for k, q in enumerate(["a siren", "rain"])}


@pytest.mark.parametrize("gamma", [False, True])
def test_plot_film_shifts_draws_every_channel_per_query(gamma):
    from lassnet.plot import plot_film_shifts

    traces = _traces(gamma)
    fig = plot_film_shifts(traces)
    axes = fig.axes
    assert len(axes) == (2 if gamma else 1)
    lines = [ln for ln in axes[0].get_lines() if len(ln.get_xdata()) > 2]
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_ydata(), torch.cat(traces["a siren"].betas).numpy())
    assert lines[0].get_linestyle() != lines[1].get_linestyle()  # not told apart by colour only
    assert len(axes[-1].get_xticks()) == 22  # one tick per conditioned layer
    labels = [t.get_text() for t in axes[-1].get_xticklabels()]
    assert labels[:3] == ["enc0.bn1", "enc0.bn2", "enc1.bn1"] and "dec0.norm" in labels
    with pytest.raises(ValueError, match="must not be empty"):
        plot_film_shifts({})


def test_plot_feature_change_picks_the_channels_that_change_most():
    from lassnet.plot import plot_feature_change

    traces = _traces(False)
    a, b = traces.values()
    change = (a.maps - b.maps).abs().mean(dim=(1, 2)) / a.maps.abs().mean(dim=(1, 2))
    fig = plot_feature_change(traces, channels=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title().startswith("channel")]
    shown = [int(t.split(",")[0].split()[1]) for t in titles[::2]]
    assert shown == change.argsort(descending=True)[:3].tolist()
    diff = [ax for ax in fig.axes if ax.get_title().startswith("difference")][0]
    c = shown[0]
    np.testing.assert_allclose(diff.images[0].get_array(), (a.maps[c] - b.maps[c]).numpy().T,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="exactly two"):
        plot_feature_change({"a": a})


def test_plot_mask_comparison_marks_real_masks():
    from lassnet.plot import plot_mask_comparison

    mask = torch.rand(20, 257)
    columns = [{"title": "model", "mask": mask, "angle": torch.zeros(20, 257)},
               {"title": "IRM\nSI-SDRi +3.0 dB", "mask": mask}]
    fig = plot_mask_comparison(columns, 16000, 256)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == ["a real mask:\nno rotation"]
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), mask.numpy().T)
    with pytest.raises(ValueError, match="must not be empty"):
        plot_mask_comparison([], 16000, 256)


def test_plot_modality_map_projects_both_sets_together():
    from lassnet.plot import plot_modality_map

    torch.manual_seed(0)
    text = torch.nn.functional.normalize(torch.randn(6, 5), dim=1)
    audio = torch.nn.functional.normalize(torch.randn(4, 5) + 2.0, dim=1)  # a shifted cloud
    fig = plot_modality_map(text, ["a", "a", "a", "b", "b", "b"], audio, ["a", "a", "b", "b"])
    ax = fig.axes[0]
    points = [c.get_offsets() for c in ax.collections if len(c.get_offsets()) > 1]
    assert [len(p) for p in points] == [6, 4]
    # The projection is onto the top two principal directions of both sets: the points'
    # spread equals the two largest singular values squared.
    both = torch.cat([text, audio]).double()
    expected = torch.linalg.svdvals(both - both.mean(0))[:2] ** 2
    xy = np.concatenate(points)
    np.testing.assert_allclose(sorted(np.linalg.svd(xy, compute_uv=False) ** 2, reverse=True),
                               expected.numpy(), rtol=1e-6)
    # each class is named on the map at the centre of its points (not by colour alone)
    names = {t.get_text(): t.xy for t in ax.texts}
    assert set(names) == {"a", "b"}
    in_a = [i for i, n in enumerate(["a"] * 3 + ["b"] * 3 + ["a", "a", "b", "b"]) if n == "a"]
    np.testing.assert_allclose(names["a"], xy[in_a].mean(0), rtol=1e-6)
    with pytest.raises(ValueError, match="share D"):
        plot_modality_map(text, ["a"] * 6, torch.zeros(2, 3), ["a", "b"])

import re

import numpy as np
import pytest
import torch
from scipy import signal

from lassnet.data import (
    CAPTIONS,
    CLASSES,
    OUT_OF_RECIPE_CAPTIONS,
    OUT_OF_RECIPE_DESCRIPTIONS,
    MixtureDataset,
    OutOfRecipeClips,
    clip_seed,
    clip_source,
    evaluation_mixtures,
    out_of_recipe_caption,
    out_of_recipe_seed,
    synthesize,
    synthesize_out_of_recipe,
)

SR = 16000


# --- captions -------------------------------------------------------------------------------


def _words(text):
    return set(re.findall(r"[a-z]+", text.lower()))


def _normalised(text):
    return " ".join(w for w in re.findall(r"[a-z]+", text.lower()) if w not in {"a", "an", "the"})


def test_captions_are_new_paraphrases():
    assert set(OUT_OF_RECIPE_CAPTIONS) == set(CLASSES) == set(OUT_OF_RECIPE_DESCRIPTIONS)
    training = {_normalised(c) for caps in CAPTIONS.values() for c in caps}
    everything = [c for caps in OUT_OF_RECIPE_CAPTIONS.values() for c in caps]
    assert len(everything) == len(set(everything)), "captions must not repeat across classes"
    for name, caps in OUT_OF_RECIPE_CAPTIONS.items():
        assert len(caps) >= 5, name
        assert all(isinstance(c, str) and c == c.strip() and c for c in caps), name
        for c in caps:  # none is a training caption, even up to articles, case and punctuation
            assert _normalised(c) not in training, (name, c)
        # Varied wording: at least three captions avoid every word of the class's name.
        own = set(name.split("_"))
        assert sum(not (_words(c) & own) for c in caps) >= 3, name
    # Most of the vocabulary is not in the training captions.
    train_words = set().union(*(_words(c) for caps in CAPTIONS.values() for c in caps))
    words = set().union(*(_words(c) for c in everything))
    assert len(words - train_words) / len(words) > 0.5


def test_caption_choice_is_deterministic_and_uses_every_paraphrase():
    assert out_of_recipe_caption("siren", 5) == out_of_recipe_caption("siren", 5)
    used = {out_of_recipe_caption("siren", s) for s in range(200)}
    assert used == set(OUT_OF_RECIPE_CAPTIONS["siren"])
    assert out_of_recipe_caption("siren", 5, CAPTIONS) in CAPTIONS["siren"]


# --- clips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", [16000, 32000])
def test_every_class_makes_a_valid_clip(sample_rate):
    for name in CLASSES:
        x = synthesize_out_of_recipe(name, 7, sample_rate, 1.5)
        assert x.dtype == np.float32 and x.shape == (int(1.5 * sample_rate),), name
        assert np.isfinite(x).all(), name
        peak = float(np.abs(x).max())
        assert 0.01 < peak <= np.float32(0.99), (name, peak)  # a ceiling under full scale
        assert np.sqrt(np.mean(x**2)) > 3e-3, name  # levels are -32 to -16 dBFS RMS


def test_short_clips_are_not_silent():
    for name in CLASSES:
        for seed in range(3):
            x = synthesize_out_of_recipe(name, seed, SR, 0.3)
            assert np.sqrt(np.mean(x**2)) > 1e-3, (name, seed)


def test_deterministic_and_varied():
    for name in CLASSES:
        a = synthesize_out_of_recipe(name, 11, SR, 2.0)
        b = synthesize_out_of_recipe(name, 11, SR, 2.0)
        assert np.array_equal(a, b), name
        c = synthesize_out_of_recipe(name, 12, SR, 2.0)
        corr = abs(float(np.dot(a, c) / (np.linalg.norm(a) * np.linalg.norm(c))))
        assert corr < 0.5, (name, corr)
        # Not the main corpus's clip of the same class and seed.
        main = synthesize(name, 11, SR, 2.0)
        corr = abs(float(np.dot(a, main) / (np.linalg.norm(a) * np.linalg.norm(main))))
        assert corr < 0.5, (name, corr)


# The test set is fixed: these are its first items on every machine. A change here means the
# recipes changed, and every published out-of-recipe score would have to be recomputed.
FINGERPRINT = [  # (caption, RMS, peak) of OutOfRecipeClips("test", 16000, 1.0)[0..13]
    ("emergency vehicles blaring through traffic", 0.0434, 0.1773),
    ("a desk phone that nobody answers", 0.0478, 0.0799),
    ("the deep toll of a large bell", 0.0354, 0.2374),
    ("a ukulele strummed gently", 0.0266, 0.091),
    ("a boat engine chugging at low revs", 0.0293, 0.128),
    ("a rainstorm", 0.0434, 0.4906),
    ("a gale blowing outside", 0.0578, 0.2945),
    ("a pendulum keeping time in a quiet room", 0.04, 0.99),
    ("a sparrow chirping", 0.0137, 0.0638),
    ("bongos being tapped", 0.0407, 0.3058),
    ("a microwave beeping when it is done", 0.0964, 0.32),
    ("the drone of a transformer", 0.037, 0.0857),
    ("a cheerful tune whistled while working", 0.1178, 0.4753),
    ("a leaking pipe dripping", 0.0481, 0.448),
]


def test_test_set_is_fixed():
    clips = OutOfRecipeClips("test", SR, 1.0, count=14)
    items = [clips[i] for i in range(14)]
    assert [it["label"] for it in items] == list(CLASSES)
    for it, (caption, rms, peak) in zip(items, FINGERPRINT, strict=True):
        wave = it["wave"]
        assert it["caption"] == caption
        assert float(wave.pow(2).mean().sqrt()) == pytest.approx(rms, rel=2e-3, abs=2e-4)
        assert float(wave.abs().max()) == pytest.approx(peak, rel=2e-3, abs=2e-4)


@pytest.mark.parametrize("name", ["telephone_ring", "clock_ticking", "water_dripping"])
def test_recording_has_a_noise_floor(name):
    """Between a sparse sound's events the recording chain leaves its noise floor, drawn 35 to
    55 dB below the clip's mean power (then shaped by the microphone and the dynamics): the
    quietest frames are neither digital silence, as in the dry sound, nor loud."""
    for seed in range(8):
        for recording in (True, False):
            x = synthesize_out_of_recipe(name, seed, SR, 3.0, recording).astype(np.float64)
            frames = x[: len(x) // 320 * 320].reshape(-1, 320)  # 20 ms
            quiet = np.percentile(np.mean(frames**2, axis=1), 5) / np.mean(x**2)
            floor_db = 10 * np.log10(quiet + 1e-300)
            if recording:
                assert -75.0 < floor_db < -20.0, (name, seed, floor_db)
            else:
                assert floor_db < -100.0, (name, seed, floor_db)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown class"):
        synthesize_out_of_recipe("dog", 0)
    with pytest.raises(ValueError, match="seed"):
        synthesize_out_of_recipe("rain", -1)
    with pytest.raises(ValueError, match="sample_rate"):
        synthesize_out_of_recipe("rain", 0, 1000)
    with pytest.raises(ValueError, match="duration"):
        synthesize_out_of_recipe("rain", 0, SR, 0.0)
    with pytest.raises(ValueError, match="duration"):
        synthesize_out_of_recipe("rain", 0, SR, float("nan"))


# --- the classes keep their character --------------------------------------------------------


def _stft_power(x):
    f, _, z = signal.stft(x, SR, nperseg=512, noverlap=384)
    return f, np.abs(z) ** 2


def _fraction_above(x, above):
    f, p = _stft_power(x)
    return float(p[f > above].sum() / p.sum())


def _centroid(x):
    f, p = _stft_power(x)
    return float((f[:, None] * p).sum() / p.sum())


def _dominant(x):
    """Strongest frequency of every frame within 20 dB of the loudest frame."""
    f, p = _stft_power(x)
    energy = p.sum(0)
    return f[p.argmax(0)][energy > energy.max() * 1e-2]


def _near_loudest(x, db):
    """Fraction of frames within ``db`` dB of the loudest frame."""
    _, p = _stft_power(x)
    energy = p.sum(0)
    return float(np.mean(energy > energy.max() * 10 ** (-db / 10)))


def _regularity(x):
    """Peak autocorrelation, at lags of 0.1-2.1 s, of the onset strength (rises of the log
    frame energy): near 1 for events at a steady rate, small for random ones."""
    _, p = _stft_power(x)
    onset = np.maximum(np.diff(np.log(p.sum(0) + 1e-12)), 0.0)
    onset -= onset.mean()
    ac = np.correlate(onset, onset, "full")[len(onset) - 1 :]
    hop = 128 / SR
    return float(ac[int(0.1 / hop) : int(2.1 / hop)].max() / ac[0])


SEEDS = range(700, 708)


def _clips(name):
    return [synthesize_out_of_recipe(name, s, SR, 5.0) for s in SEEDS]


def test_hum_lies_on_the_60_hz_family():
    for x in _clips("electrical_hum"):
        spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
        f = np.fft.rfftfreq(len(x), 1 / SR)
        on_family = (np.abs(f - 60 * np.round(f / 60)) <= 3) & (f > 30)
        assert spectrum[on_family].sum() / spectrum.sum() > 0.95
        peak = f[spectrum.argmax()]
        assert abs(peak - 60 * round(peak / 60)) <= 1 and peak >= 59
    for x in _clips("rain"):  # broadband sounds are not: about 6 Hz of every 60
        spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
        f = np.fft.rfftfreq(len(x), 1 / SR)
        on_family = (np.abs(f - 60 * np.round(f / 60)) <= 3) & (f > 30)
        assert spectrum[on_family].sum() / spectrum.sum() < 0.3


def test_alarm_holds_its_beep_frequency_with_gaps_and_the_siren_moves():
    for x in _clips("alarm_beeping"):
        dom = _dominant(x)
        steady = np.mean(np.abs(dom / np.median(dom) - 1) < 0.03)
        assert steady > 0.8
        assert 700 < np.median(dom) < 4300
        assert _fraction_above(x, 500) > 0.9
        assert _near_loudest(x, 20) < 0.8  # beeps and gaps
    for x in _clips("siren"):
        dom = _dominant(x)
        assert np.percentile(dom, 90) / np.percentile(dom, 10) > 1.12
        assert np.mean(np.abs(dom / np.median(dom) - 1) < 0.03) < 0.7


def test_drips_and_ticks_are_sparse_and_ticks_regular():
    for name in ("water_dripping", "clock_ticking"):
        for x in _clips(name):
            # Even with a room's reverberation only a few frames come near the loudest.
            assert _near_loudest(x, 10) < 0.35, name
    for x in _clips("clock_ticking"):
        assert _regularity(x) > 0.3
    for name in ("rain", "wind"):
        for x in _clips(name):
            assert _regularity(x) < 0.25, name


def test_engine_is_low_birds_are_high_rain_is_broadband():
    for x in _clips("engine_idling"):
        assert _centroid(x) < 1000 and _fraction_above(x, 1000) < 0.2
    for x in _clips("bird_chirping"):
        assert _fraction_above(x, 1500) > 0.8
    for x in _clips("rain"):
        assert _fraction_above(x, 2000) > 0.1


def test_telephone_rings_in_bursts_and_whistling_is_a_moving_tone():
    for x in _clips("telephone_ring"):
        assert _near_loudest(x, 20) < 0.75  # a cadence: rings and silences
    for x in _clips("whistling"):
        dom = _dominant(x)
        assert 400 < np.median(dom) < 3500
        assert np.percentile(dom, 90) / np.percentile(dom, 10) > 1.1  # a tune, not one note


def test_classes_are_distinguishable_across_seeds():
    """A nearest-centroid classifier on band energies, fitted on some seeds, labels clips of
    other seeds far above chance (1/14), despite every clip's own room and microphone."""
    edges = np.geomspace(60, 7600, 25)

    def features(x):
        f, p = _stft_power(x)
        pairs = zip(edges[:-1], edges[1:], strict=True)
        bands = np.array([p[(f >= a) & (f < b)].sum() for a, b in pairs])
        return np.log10(bands / bands.sum() + 1e-9)

    train = np.array(
        [[features(synthesize_out_of_recipe(c, s, SR, 2.0)) for s in range(8)] for c in CLASSES]
    )
    test = np.array(
        [[features(synthesize_out_of_recipe(c, 900 + s, SR, 2.0)) for s in range(4)]
         for c in CLASSES]
    )
    centroids = train.mean(1)  # (classes, features)
    scale = train.reshape(-1, train.shape[-1]).std(0) + 1e-6
    dist = (((test[:, :, None, :] - centroids[None, None]) / scale) ** 2).sum(-1)
    accuracy = float((dist.argmin(-1) == np.arange(len(CLASSES))[:, None]).mean())
    assert accuracy > 0.35


# --- seeds, the dataset and clip_source ---------------------------------------------------------


def test_seeds_lie_outside_the_main_corpus():
    highest_main = max(clip_seed(split, 2**32 - 1, 2**16 - 1)
                       for split in ("train", "validation", "test"))
    assert out_of_recipe_seed(0, 0) > highest_main
    assert out_of_recipe_seed(5, 2) == 3 * 2**48 + 2 * 2**32 + 5
    with pytest.raises(ValueError, match="index"):
        out_of_recipe_seed(2**32)
    with pytest.raises(ValueError, match="seed"):
        out_of_recipe_seed(0, 2**16)


def test_dataset_items():
    clips = OutOfRecipeClips("test", SR, 0.5, count=30, seed=3)
    assert len(clips) == 30
    item = clips[16]
    assert set(item) == {"wave", "label", "caption", "index", "seed"}
    assert item["wave"].shape == (1, 8000) and item["wave"].dtype == torch.float32
    assert item["label"] == CLASSES[16 % 14] and item["index"] == 16
    assert item["seed"] == out_of_recipe_seed(16, 3)
    assert item["caption"] in OUT_OF_RECIPE_CAPTIONS[item["label"]]
    assert item["caption"] == out_of_recipe_caption(item["label"], item["seed"])
    expected = synthesize_out_of_recipe(item["label"], item["seed"], SR, 0.5)
    assert np.array_equal(item["wave"][0].numpy(), expected)
    assert torch.equal(clips[-1]["wave"], clips[29]["wave"])
    with pytest.raises(IndexError):
        clips[30]
    assert list(clips.indices_of("bell")) == [2, 16]
    assert clips.item_classes(2) == ("bell",)
    assert clips.class_counts()["siren"] == 3
    other = OutOfRecipeClips("test", SR, 0.5, count=30, seed=4)
    assert not torch.equal(other[0]["wave"], clips[0]["wave"])
    # Made at another length, the same clip set: same classes, seeds and captions.
    longer = clips.with_duration(0.75)
    assert longer[16]["wave"].shape == (1, 12000) and longer[16]["caption"] == item["caption"]


def test_subsets_and_training_captions():
    clips = OutOfRecipeClips("test", SR, 0.25, count=6, classes=["rain", "bell"])
    assert [clips[i]["label"] for i in range(4)] == ["rain", "bell", "rain", "bell"]
    # With the training captions as queries, only the sounds are out of recipe.
    same_words = OutOfRecipeClips("test", SR, 0.25, count=6, classes=["rain", "bell"],
                                  captions=CAPTIONS)
    assert same_words[0]["caption"] in CAPTIONS["rain"]
    assert torch.equal(same_words[0]["wave"], clips[0]["wave"])
    assert same_words.captions == {"rain": CAPTIONS["rain"], "bell": CAPTIONS["bell"]}
    # Without the recording chain: the same sound, dry (no room, microphone or noise floor).
    dry = OutOfRecipeClips("test", SR, 0.25, count=6, classes=["rain", "bell"], recording=False)
    assert dry.with_duration(0.25).recording is False
    bell = dry[1]["wave"][0].numpy()
    assert not np.allclose(bell, clips[1]["wave"][0].numpy())
    assert np.array_equal(bell, synthesize_out_of_recipe("bell", dry[1]["seed"], SR, 0.25, False))
    with pytest.raises(ValueError, match="unknown class"):
        OutOfRecipeClips(classes=["rain", "cat"])
    with pytest.raises(ValueError, match="repeat"):
        OutOfRecipeClips(classes=["rain", "rain"])
    with pytest.raises(ValueError, match="count"):
        OutOfRecipeClips(count=0)
    with pytest.raises(ValueError, match="seed"):
        OutOfRecipeClips(seed=-1)
    with pytest.raises(ValueError, match="duration"):
        OutOfRecipeClips(duration=0.01)
    with pytest.raises(ValueError, match="caption for class 'bell'"):
        OutOfRecipeClips(classes=["rain", "bell"], captions={"rain": ("rain",)})


@pytest.mark.parametrize("split", ["train", "validation"])
def test_only_a_test_split(split):
    with pytest.raises(ValueError, match="must never be trained or tuned on"):
        OutOfRecipeClips(split)
    with pytest.raises(ValueError, match="only a 'test' split"):
        clip_source("out-of-recipe", split, SR)


def test_clip_source_by_name_feeds_the_mixtures():
    source = clip_source("out-of-recipe", "test", 8000, classes=["bell", "rain", "drum"])
    assert isinstance(source, OutOfRecipeClips)
    assert source.duration is None and len(source) == 2**32 and source.sample_rate == 8000
    assert source[0]["wave"].shape == (1, 40000)  # read directly: DEFAULT_DURATION
    for alias in ("out_of_recipe", "OutOfRecipe"):
        assert isinstance(clip_source(alias, "test", 8000), OutOfRecipeClips)
    # Mixtures make its clips at their own segment length, as for the main corpus.
    mixtures = MixtureDataset(source, count=2, sample_rate=8000, duration=0.5, max_interferers=1)
    assert mixtures.source.duration == 0.5
    item = mixtures[0]
    assert item["mixture"].shape == (1, 4000)
    assert item["caption"] in OUT_OF_RECIPE_CAPTIONS[item["label"]]
    # The evaluation protocol runs on it: every target class once, queried with its captions.
    items = evaluation_mixtures(count=3, n_interferers=2, sample_rate=8000, duration=0.5,
                                source=source)
    assert sorted(it["label"] for it in items) == ["bell", "drum", "rain"]
    for it in items:
        assert it["caption"] in OUT_OF_RECIPE_CAPTIONS[it["label"]]
        assert it["label"] not in it["interferer_labels"]
        assert torch.allclose(it["mixture"], it["target"] + it["noise"], atol=1e-6)


def test_evaluate_model_queries_with_the_corpus_own_captions(monkeypatch):
    """evaluate_model(dataset="out-of-recipe") asks for every target, and for the wrong query,
    with the out-of-recipe captions; with captions=CAPTIONS, with the training captions."""
    from lassnet import query
    from lassnet.data import CAPTIONS
    from lassnet.evaluate import evaluate_model
    from lassnet.model import LASSModel
    from lassnet.separator import SeparationNet

    encoder = query.build("minilm")
    asked: list[str] = []
    embed_text = encoder.embed_text
    monkeypatch.setattr(encoder, "embed_text",
                        lambda texts: asked.extend(texts) or embed_text(texts))
    torch.manual_seed(0)
    model = LASSModel(SeparationNet.from_preset("tiny", condition_dim=encoder.dim), encoder)
    new_words = {c for captions in OUT_OF_RECIPE_CAPTIONS.values() for c in captions}
    old_words = {c for captions in CAPTIONS.values() for c in captions}

    report = evaluate_model(model, count=3, duration=0.5, dataset="out-of-recipe",
                            progress=False, bss=False, classes=["bell", "rain", "drum"],
                            n_interferers=2)
    assert sorted(report.labels) == ["bell", "drum", "rain"]
    assert len(asked) == 6 and set(asked) <= new_words  # 3 targets, 3 wrong queries
    targets = {r["caption"] for r in report.rows if r["method"] == "model"}
    assert targets <= set(asked)

    asked.clear()
    evaluate_model(model, count=3, duration=0.5, dataset="out-of-recipe", progress=False,
                   bss=False, classes=["bell", "rain", "drum"], n_interferers=2,
                   captions=CAPTIONS)
    assert len(asked) == 6 and set(asked) <= old_words

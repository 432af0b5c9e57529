import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lassnet.audio import energy
from lassnet.data import (
    CAPTIONS,
    CLASSES,
    AudioSepMixer,
    ClipSource,
    LabelledClips,
    MixtureDataset,
    SegmentDataset,
    SyntheticClips,
    clip_seed,
    clip_source,
    collate,
    describe_mixture,
    evaluation_mixtures,
    reference_for,
    synthesize,
)

SR = 8000
DUR = 0.5


class ToySource(LabelledClips):
    """An in-memory clip source: class ``c`` of item ``i`` is ``labels[i]``; ``silent`` classes
    are all zeros, others a sine whose pitch depends on the item, of the given length."""

    def __init__(self, labels, silent=(), length=4000, amplitude=0.5):
        self.sample_rate = SR
        self._item_classes = [tuple(label.split("+")) for label in labels]
        self.classes = tuple(dict.fromkeys(c for cs in self._item_classes for c in cs))
        self.silent, self.length, self.amplitude = set(silent), length, amplitude

    def __len__(self):
        return len(self._item_classes)

    def __getitem__(self, index):
        classes = self.item_classes(index)
        t = torch.arange(self.length) / SR
        wave = self.amplitude * torch.sin(2 * torch.pi * (200 + 37 * index) * t)[None]
        if self.silent & set(classes):
            wave = torch.zeros_like(wave)
        label = ", ".join(classes)
        return {"wave": wave, "label": label, "caption": f"the sound of {label}", "index": index}


def _mixtures(**kw):
    kw.setdefault("count", 16)
    kw.setdefault("sample_rate", SR)
    kw.setdefault("duration", DUR)
    return MixtureDataset(**kw)


def test_item_format_and_exact_mixing():
    ds = _mixtures(return_sources=True, query_audio=True)
    assert isinstance(ds.source, ClipSource) and isinstance(ds.source, SyntheticClips)
    for i in range(8):
        item = ds[i]
        length = int(SR * DUR)
        for key in ("mixture", "target", "noise", "query_wave"):
            assert item[key].shape == (1, length) and item[key].dtype == torch.float32, key
        k = item["n_interferers"]
        assert 1 <= k <= 3 and item["interferers"].shape == (k, length)
        assert item["caption"] in CAPTIONS[item["label"]]
        others = item["interferer_labels"]
        assert isinstance(others, list) and len(others) == k
        assert item["label"] not in others and len(set(others)) == k
        torch.testing.assert_close(
            item["mixture"], item["target"] + item["noise"], rtol=0, atol=1e-6
        )
        torch.testing.assert_close(
            item["noise"], item["interferers"].sum(0, keepdim=True), rtol=0, atol=1e-6
        )
        measured = 10 * torch.log10(energy(item["target"]) / energy(item["noise"]))
        assert float(measured) == pytest.approx(item["snr_db"], abs=1e-3)
        assert -10.0 - 1e-3 <= item["snr_db"] <= 10.0 + 1e-3  # the noise's own gain
        assert float(item["mixture"].abs().max()) <= 1.0


def test_each_interferer_is_energy_matched_then_gained():
    for gain in (-6.0, 4.0):
        ds = _mixtures(
            gain_db=(gain, gain), normalize_noise=False, declip=False, return_sources=True
        )
        item = ds[3]
        for row in item["interferers"]:
            ratio = 10 * torch.log10(energy(row[None]) / energy(item["target"]))
            assert float(ratio) == pytest.approx(gain, abs=1e-3)
    ds = _mixtures(gain_db=(3.0, 3.0), declip=False)
    assert ds[5]["snr_db"] == pytest.approx(-3.0, abs=1e-3)


def test_declipping_scales_mixture_and_target_together():
    loud = ToySource(["a", "b", "c"] * 4, amplitude=0.95, length=4000)
    common = dict(source=loud, gain_db=(6.0, 6.0), max_interferers=2, seed=4)
    raw = _mixtures(declip=False, **common)[2]
    clipped = _mixtures(declip=True, **common)[2]
    assert float(raw["mixture"].abs().max()) > 1.0
    assert float(clipped["mixture"].abs().max()) == pytest.approx(0.9, abs=1e-6)
    factor = 0.9 / float(raw["mixture"].abs().max())
    torch.testing.assert_close(clipped["target"], raw["target"] * factor)
    torch.testing.assert_close(clipped["mixture"], clipped["target"] + clipped["noise"])
    assert clipped["snr_db"] == pytest.approx(raw["snr_db"], abs=1e-4)


def test_silent_target_or_interferer_gives_no_nan():
    source = ToySource(["quiet", "a", "b", "quiet", "a", "b"], silent={"quiet"})
    for target in ("quiet", "a"):
        ds = _mixtures(source=source, target_classes=[target], max_interferers=2, count=6)
        for i in range(6):
            item = ds[i]
            for key in ("mixture", "target", "noise"):
                assert torch.isfinite(item[key]).all(), (target, key)
            assert np.isfinite(item["snr_db"])
            if target == "quiet":
                assert float(item["mixture"].abs().max()) == 0.0


def test_short_clips_are_padded_and_long_clips_cropped():
    short = ToySource(["a", "b"] * 3, length=1000)
    item = _mixtures(source=short, count=2)[0]
    assert item["mixture"].shape == (1, 4000)
    assert float(item["target"][0, 1000:].abs().max()) == 0.0
    long = ToySource(["a", "b"] * 3, length=20000)
    ds = _mixtures(source=long, count=20)
    assert all(ds[i]["target"].shape == (1, 4000) for i in range(3))


def test_deterministic_per_index_seed_and_epoch():
    ds = _mixtures()
    a, b = ds[7], ds[7]
    assert torch.equal(a["mixture"], b["mixture"]) and a["caption"] == b["caption"]
    assert not torch.equal(ds[7]["mixture"], ds[8]["mixture"])
    other = _mixtures(seed=1)
    assert not torch.equal(other[7]["mixture"], a["mixture"])
    ds.set_epoch(1)
    assert not torch.equal(ds[7]["mixture"], a["mixture"])
    ds.set_epoch(0)
    assert torch.equal(ds[7]["mixture"], a["mixture"])


def test_dataloader_workers_draw_different_and_reproducible_samples():
    ds = _mixtures(count=8, duration=0.25)
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False, collate_fn=collate)
    batches = list(loader)
    mixtures = torch.cat([b["mixture"] for b in batches])  # (8, 1, L)
    assert mixtures.shape == (8, 1, 2000)
    assert isinstance(batches[0]["caption"], list) and isinstance(batches[0]["caption"][0], str)
    assert isinstance(batches[0]["interferer_labels"][0], list)
    # Worker 0 made batches 0 and 2, worker 1 batches 1 and 3: all samples differ...
    flat = mixtures.flatten(1)
    for i in range(8):
        for j in range(i + 1, 8):
            assert not torch.allclose(flat[i], flat[j]), (i, j)
    # ...and equal what the main process computes: no hidden per-process random state.
    for i in range(8):
        torch.testing.assert_close(mixtures[i], ds[i]["mixture"], rtol=0, atol=0)


def test_multi_label_sources_avoid_overlapping_classes():
    source = ToySource(["dog+bark", "dog", "cat", "bark", "bird", "cat+bird"] * 3)
    ds = _mixtures(source=source, target_classes=["dog"], max_interferers=3, count=12)
    for i in range(12):
        item = ds[i]
        target_classes = set(item["label"].split(", "))
        for other in item["interferer_labels"]:
            assert other not in target_classes


def test_evaluation_mixtures_are_fixed_and_cover_classes():
    items = evaluation_mixtures(count=14, n_interferers=5, sample_rate=SR, duration=0.25)
    assert sorted(it["label"] for it in items) == sorted(CLASSES)
    for it in items:
        others = it["interferer_labels"]
        assert len(others) == 5 == len(set(others)) and it["label"] not in others
        assert it["mixture"].shape == (1, 2000)
    again = evaluation_mixtures(count=3, n_interferers=5, sample_rate=SR, duration=0.25)
    for a, b in zip(items[:3], again, strict=True):
        assert a["label"] == b["label"] and torch.equal(a["mixture"], b["mixture"])
    other = evaluation_mixtures(count=3, sample_rate=SR, duration=0.25, seed=1)
    pairs = zip(items[:3], other, strict=True)
    assert not all(torch.equal(a["mixture"], b["mixture"]) for a, b in pairs)
    with pytest.raises(ValueError, match="n_interferers"):
        evaluation_mixtures(2, n_interferers=14, sample_rate=SR, duration=0.25)
    grouped = evaluation_mixtures(
        count=2, mixtures_per_target=3, n_interferers=2, sample_rate=SR, duration=0.25
    )
    labels = [it["label"] for it in grouped]
    assert labels[:3] == [items[0]["label"]] * 3 and labels[3:] == [items[1]["label"]] * 3
    assert not torch.equal(grouped[0]["target"], grouped[1]["target"])


def test_evaluation_mixtures_can_keep_their_sources():
    """With ``return_sources=True`` (the introduction's demo set) every item also has its
    interferers, as they are in the mixture: the sources sum to the mixture."""
    kept = evaluation_mixtures(count=3, n_interferers=2, sample_rate=SR, duration=0.5,
                               return_sources=True)
    plain = evaluation_mixtures(count=3, n_interferers=2, sample_rate=SR, duration=0.5)
    assert len({it["label"] for it in kept}) == 3  # a different target class each
    for item, same in zip(kept, plain, strict=True):
        assert "interferers" not in same  # the default keeps only the sum, as before
        assert item["interferers"].shape == (2, 4000) and item["target"].shape == (1, 4000)
        assert item["label"] not in item["interferer_labels"]
        parts = item["target"] + item["interferers"].sum(0, keepdim=True)  # (1, L)
        torch.testing.assert_close(item["mixture"], parts, atol=1e-5, rtol=0)
        torch.testing.assert_close(item["noise"], item["interferers"].sum(0, keepdim=True))
        # Keeping the sources does not change what is drawn.
        assert torch.equal(item["mixture"], same["mixture"])
        assert item["interferer_labels"] == same["interferer_labels"]
    with pytest.raises(ValueError, match="count"):
        evaluation_mixtures(count=0, sample_rate=SR, duration=0.5, return_sources=True)


def test_reference_for_and_describe_mixture():
    item = evaluation_mixtures(count=1, n_interferers=2, sample_rate=SR, duration=0.5,
                               return_sources=True)[0]
    torch.testing.assert_close(reference_for(item, item["label"]), item["target"][0])
    second = item["interferer_labels"][1]
    torch.testing.assert_close(reference_for(item, second), item["interferers"][1])
    absent = next(c for c in CLASSES if c != item["label"]
                  and c not in item["interferer_labels"])
    assert reference_for(item, absent) is None
    assert reference_for(item, None) is None
    without_sources = {k: v for k, v in item.items() if k != "interferers"}
    assert reference_for(without_sources, second) is None  # the sources were not kept
    torch.testing.assert_close(reference_for(without_sources, item["label"]), item["target"][0])
    text = describe_mixture(item)
    assert text == (item["label"] + " + " + ", ".join(item["interferer_labels"])).replace("_", " ")
    assert "_" not in text and text.count(",") == 1


def test_collate_pads_and_keeps_strings():
    items = [
        {"wave": torch.ones(1, 3), "label": "a", "n": 1, "x": 0.5, "rows": torch.ones(2, 3)},
        {"wave": torch.ones(1, 5), "label": "b", "n": 2, "x": 1.5, "rows": torch.ones(1, 4)},
    ]
    batch = collate(items)
    assert batch["wave"].shape == (2, 1, 5) and batch["wave_lengths"].tolist() == [3, 5]
    assert float(batch["wave"][0, 0, 3:].abs().sum()) == 0.0
    assert batch["label"] == ["a", "b"]
    assert batch["n"].tolist() == [1, 2] and batch["x"].tolist() == [0.5, 1.5]
    assert batch["rows"].shape == (2, 2, 4)
    ds = _mixtures(return_sources=True, count=4)
    out = collate([ds[0], ds[1], ds[2]])
    assert out["mixture"].shape == (3, 1, 4000) and "mixture_lengths" not in out
    assert out["interferers"].shape[0] == 3
    assert out["interferer_labels"] == [ds[i]["interferer_labels"] for i in range(3)]


def test_synthetic_source_is_made_at_the_segment_length():
    ds = MixtureDataset(
        clip_source("synthetic", "validation", SR), count=4, sample_rate=SR, duration=0.3
    )
    assert ds.source.duration == 0.3 and ds.source.split == "validation"
    item = ds[0]
    assert item["target"].shape == (1, 2400)
    assert ds.source.item_classes(item["target_index"]) == (item["label"],)
    seed = clip_seed("validation", item["target_index"])
    expected = synthesize(item["label"], seed, SR, 0.3)
    # The target is that clip, scaled only if the mixture had to be declipped.
    ratio = item["target"][0].numpy() / np.where(expected == 0, 1, expected)
    assert np.allclose(ratio[expected != 0], ratio[expected != 0][0], rtol=1e-4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="sample rate"):
        MixtureDataset(SyntheticClips(sample_rate=16000), sample_rate=SR)
    with pytest.raises(ValueError, match="interferers"):
        _mixtures(min_interferers=3, max_interferers=2)
    with pytest.raises(ValueError, match="gain_db"):
        _mixtures(gain_db=(5, -5))
    with pytest.raises(ValueError, match="protocol"):
        MixtureDataset(source=[1, 2, 3], sample_rate=SR)
    with pytest.raises(ValueError, match="two classes"):
        _mixtures(source=ToySource(["a", "a"]))


# ----------------------------------------------------------------------------- AudioSep's recipe
def _audiosep_mix_written_out(seg: np.ndarray, seed: int, max_mix_num: int = 2):
    """AudioSep's SegmentMixer as its code reads, in float64 numpy, drawing the same integers
    from Python's random in the same order: mix_num, then one gain per interferer, then the
    background's gain."""
    r = random.Random(seed)
    batch = seg.shape[0]
    mixtures, targets = [], []

    def ratio(x, ref):  # energy matching, clamped to [0.02, 50]
        return np.clip(np.sqrt(np.mean(x**2) / max(np.mean(ref**2), 1e-10)), 0.02, 50.0)

    for n in range(batch):
        s = seg[n].copy()
        noise = np.zeros_like(s)
        mix_num = r.randint(2, max_mix_num)
        for i in range(1, mix_num):
            x = seg[(n + i) % batch]
            noise += x / ratio(x, s) * 10 ** (r.randint(-10, 10) / 20)
        noise = noise / ratio(noise, s) * 10 ** (r.randint(-10, 10) / 20)
        mix = s + noise
        peak = np.abs(mix).max()
        if peak > 1:
            s, mix = s * 0.9 / peak, mix * 0.9 / peak
        mixtures.append(mix)
        targets.append(s)
    return np.stack(mixtures), np.stack(targets)


@pytest.mark.parametrize("max_mix_num", [2, 3])
def test_audiosep_mixer_is_the_written_out_maths(max_mix_num):
    rng = np.random.default_rng(0)
    seg = rng.standard_normal((5, 1, 800)) * np.array([0.3, 0.05, 2.0, 1e-7, 0.4])[:, None, None]
    mixer = AudioSepMixer(max_mix_num=max_mix_num)
    for seed in (0, 1, 1234):
        mix, tgt = mixer(torch.tensor(seg, dtype=torch.float64), random.Random(seed))
        want_mix, want_tgt = _audiosep_mix_written_out(seg, seed, max_mix_num)
        np.testing.assert_allclose(mix.numpy(), want_mix, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(tgt.numpy(), want_tgt, rtol=1e-12, atol=1e-15)


def test_audiosep_mixer_uses_the_next_clip_of_the_batch_whatever_its_class():
    rng = np.random.default_rng(1)
    seg = torch.tensor(0.1 * rng.standard_normal((4, 1, 600)), dtype=torch.float64)
    mix, tgt = AudioSepMixer()(seg, random.Random(5))
    for n in range(4):
        noise = (mix[n] - tgt[n]).flatten()
        nxt = seg[(n + 1) % 4].flatten()
        cos = float(noise @ nxt / (noise.norm() * nxt.norm()))
        assert cos == pytest.approx(1.0, abs=1e-9)  # one interferer: the next segment, scaled
        level_db = 20 * np.log10(float(noise.norm() / tgt[n].flatten().norm()))
        assert abs(level_db - round(level_db)) < 1e-6  # an integer number of dB (no clamp here)
        assert -10 <= round(level_db) <= 10
    # the clamp: a near-silent target cannot pull its interferer down by more than 50x
    seg[0] *= 1e-6
    mix, tgt = AudioSepMixer()(seg, random.Random(5))
    ratio = float((seg[1].pow(2).mean() / seg[0].pow(2).mean().clamp_min(1e-10)).sqrt())
    assert ratio > 50
    noise = mix[0] - tgt[0]
    # both matchings clamp at 50: noise = next / 50 · 10^(g1/20) / 50 · 10^(g2/20)
    gain_db = 20 * np.log10(float(noise.norm() / seg[1].norm()) * 50 * 50)
    assert abs(gain_db - round(gain_db)) < 1e-6 and -20 <= round(gain_db) <= 20


def test_audiosep_batches_are_pure_functions_of_their_index():
    ds = SegmentDataset(count=8, sample_rate=SR, duration=0.25, seed=3)
    mixer = AudioSepMixer()
    items = [ds[i] for i in range(4)]
    a = mixer.collate(items, batch_index=2)
    b = mixer.collate([ds[i] for i in range(4)], batch_index=2)
    torch.testing.assert_close(a["mixture"], b["mixture"], rtol=0, atol=0)
    c = mixer.collate(items, batch_index=3)
    assert not torch.equal(a["mixture"], c["mixture"])  # another batch, other gains
    assert a["mixture"].shape == (4, 1, int(0.25 * SR)) and len(a["caption"]) == 4
    with pytest.raises(ValueError, match="max_mix_num must be at least 2"):
        AudioSepMixer(max_mix_num=1)

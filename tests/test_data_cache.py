"""The rendered clip cache (lassnet.data.cache) and its place in the training data path."""

import dataclasses
import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lassnet.data import (
    FolderDataset,
    MixtureDataset,
    RenderedClips,
    SyntheticClips,
    cache_key,
    rendered_bytes,
    write_examples,
)
from lassnet.testing import TINY_SEPARATOR as SMALL
from lassnet.train import TrainConfig, load_config
from lassnet.train.data import build_dataset, clip_reads, training_loader, use_data_cache

SR = 16000


def pool(count=28, seed=0, duration=0.25, sample_rate=SR):
    """A small finite synthetic pool: every class twice by default."""
    return SyntheticClips("train", sample_rate, duration, count=count, seed=seed)


def same_item(a: dict, b: dict) -> None:
    """The same keys in the same order, the same wave bytes, the same other fields."""
    assert list(a) == list(b)
    for key in a:
        if torch.is_tensor(a[key]):
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
            assert a[key].numpy().tobytes() == b[key].numpy().tobytes(), key
        else:
            assert a[key] == b[key] and type(a[key]) is type(b[key]), key


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


# -- the file --------------------------------------------------------------------------------


def test_items_are_the_sources_items_byte_for_byte(tmp_path):
    source = pool()
    cached = RenderedClips(source, tmp_path, progress=False)
    assert cached.rendered and len(cached) == len(source) == 28
    assert cached.sample_rate == SR and cached.classes == source.classes
    for i in range(len(source)):
        same_item(cached[i], source[i])
        assert cached.item_classes(i) == source.item_classes(i)
    assert list(cached.indices_of("siren")) == list(source.indices_of("siren"))
    # the file is a plain .npy of float32 (count, 1, L) holding exactly the clips
    array = np.load(cached.path)
    assert array.dtype == np.float32 and array.shape == (28, 1, int(0.25 * SR))
    np.testing.assert_array_equal(array[5], source[5]["wave"].numpy())
    assert cached.path.stat().st_size == rendered_bytes(source)
    # opening it again renders nothing and serves the same; so does a pickled copy (a
    # DataLoader worker), which reopens the memory map itself
    again = RenderedClips(source, tmp_path, progress=False)
    assert not again.rendered and again.path == cached.path
    copy = pickle.loads(pickle.dumps(again))
    same_item(copy[11], source[11])


def test_file_sources_are_cached_too(tmp_path):
    write_examples(tmp_path / "clips", per_class=1, sample_rate=SR, duration=0.3)
    source = FolderDataset(tmp_path / "clips", sample_rate=SR)
    cached = RenderedClips(source, tmp_path / "cache", progress=False)
    for i in range(len(source)):
        same_item(cached[i], source[i])
    assert cache_key(source)["count"] == len(source)
    # a file changes: another key, another file
    path = Path(source.records[0]["path"])
    path.write_bytes(path.read_bytes())
    import os

    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert RenderedClips(FolderDataset(tmp_path / "clips", sample_rate=SR), tmp_path / "cache",
                         progress=False).path != cached.path


def test_rendering_is_deterministic(tmp_path):
    a = RenderedClips(pool(), tmp_path / "a", progress=False)
    b = RenderedClips(pool(), tmp_path / "b", progress=False, workers=2)
    assert a.path.name == b.path.name
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.sidecar.read_bytes() == b.sidecar.read_bytes()
    meta = json.loads(a.sidecar.read_text())
    assert meta["key"] == cache_key(pool()) and meta["shape"] == [28, 1, 4000]
    import hashlib

    assert meta["sha256"] == hashlib.sha256(np.load(a.path).tobytes()).hexdigest()


def test_another_key_is_another_file(tmp_path):
    first = RenderedClips(pool(seed=0), tmp_path, progress=False)
    others = [RenderedClips(p, tmp_path, progress=False)
              for p in (pool(seed=1), pool(count=14), pool(sample_rate=8000),
                        pool(duration=0.3))]
    paths = {first.path} | {o.path for o in others}
    assert len(paths) == 5 and all(o.rendered for o in others)
    same_item(others[0][3], pool(seed=1)[3])
    same_item(first[3], pool(seed=0)[3])  # the first file is still there and still serves
    assert not RenderedClips(pool(seed=0), tmp_path, progress=False).rendered


def test_a_damaged_file_is_rendered_again_with_one_warning(tmp_path):
    source = pool()
    cached = RenderedClips(source, tmp_path, progress=False)
    data = bytearray(cached.path.read_bytes())
    data[-7] ^= 0xFF  # one flipped byte in the last clip
    cached.path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="fail their SHA-256 checksum; rendering them again"
                      ) as record:
        again = RenderedClips(source, tmp_path, progress=False)
    assert len(record) == 1 and again.rendered
    same_item(again[27], source[27])
    # a damaged sidecar (an item's caption) is caught too
    meta = json.loads(again.sidecar.read_text())
    meta["items"][0]["caption"] = "something else"
    again.sidecar.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="item fields that fail their checksum"):
        third = RenderedClips(source, tmp_path, progress=False)
    same_item(third[0], source[0])


def test_an_interrupted_render_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    source = pool()
    real = SyntheticClips.__getitem__

    def fail_at_five(self, index):
        if index == 5:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the render
        return real(self, index)

    monkeypatch.setattr(SyntheticClips, "__getitem__", fail_at_five)
    with pytest.raises(KeyboardInterrupt):
        RenderedClips(source, tmp_path, progress=False)
    assert files_in(tmp_path) == []  # no .npy, no sidecar, no temporary file
    monkeypatch.setattr(SyntheticClips, "__getitem__", real)
    cached = RenderedClips(source, tmp_path, progress=False)
    assert cached.rendered and files_in(tmp_path) == [cached.sidecar.name, cached.path.name]
    same_item(cached[5], source[5])


def test_clips_of_different_shapes_and_unknown_sources_are_refused(tmp_path):
    class Ragged(torch.utils.data.Dataset):
        sample_rate, classes = SR, ("a", "b")

        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {"wave": torch.zeros(1, 100 + i), "label": "a"}

        def item_classes(self, i):
            return ("a",)

        def indices_of(self, c):
            return [0, 1, 2]

    with pytest.raises(ValueError, match="pass key="):
        RenderedClips(Ragged(), tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"item 1 of the source is torch.float32 \(1, 101\)"):
        RenderedClips(Ragged(), tmp_path, progress=False, key={"ragged": 1})
    assert files_in(tmp_path) == []
    with pytest.raises(ValueError, match="with_duration"):
        cache_key(SyntheticClips("train", SR, None, count=4))


# -- the training path -------------------------------------------------------------------------


def small_config(tmp_path, **kw) -> TrainConfig:
    base = dict(name="small", preset="tiny", separator=SMALL, duration=0.25, batch_size=3,
                steps=5, seed=3, dataset_options={"count": 28}, data_cache_dir=str(tmp_path))
    return TrainConfig(**(base | kw))


def same_batches(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert list(x) == list(y)
        for key in x:
            if torch.is_tensor(x[key]):
                assert torch.equal(x[key], y[key]), key
            else:
                assert x[key] == y[key], key


@pytest.mark.parametrize("mixing", ["lassnet", "audiosep"])
def test_batches_are_bit_identical_with_and_without_the_cache(tmp_path, mixing):
    extra = {"use_text_ratio": 0.5} if mixing == "lassnet" else {}  # query clips too
    on = small_config(tmp_path, mixing=mixing, data_cache="on", **extra)
    off = dataclasses.replace(on, data_cache="off")
    cached = list(training_loader(on, SR, start=0))
    made = list(training_loader(off, SR, start=0))
    same_batches(cached, made)
    assert any(p.suffix == ".npy" for p in tmp_path.iterdir())
    dataset = build_dataset(on, SR, "train", 15, seed=on.seed)
    inner = dataset if mixing == "lassnet" else dataset._mixtures
    assert isinstance(inner.source, RenderedClips)
    # resuming at step 3 reads the last two batches of the uninterrupted run
    same_batches(list(training_loader(on, SR, start=3)), made[3:])
    # with data loader workers (the memory map reopened in each)
    workers = dataclasses.replace(on, num_workers=2)
    same_batches(list(training_loader(workers, SR, start=0)), made)


def test_auto_uses_the_cache_on_cuda_when_it_pays(tmp_path):
    cfg = small_config(tmp_path, data_cache="auto", steps=20)
    finite = pool()
    reads = clip_reads(cfg, 60)
    assert reads == 60 * (1 + (1 + 3) / 2)  # target + mean interferers (min 1, max 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not use_data_cache(cfg, finite, 60, device="cpu")
        assert not use_data_cache(cfg, finite, 60, device=None)
        assert use_data_cache(cfg, finite, 60, device=torch.device("cuda"))
        assert use_data_cache(cfg, finite, 60, device="cuda:1")
    # built for a CUDA device (no GPU is needed to build the data), the clips come from the file
    assert isinstance(build_dataset(cfg, SR, "train", 60, cfg.seed, device="cuda").source,
                      RenderedClips)
    assert isinstance(build_dataset(cfg, SR, "train", 60, cfg.seed, device="cpu").source,
                      SyntheticClips)
    # validation mixtures never are
    assert not isinstance(build_dataset(cfg, SR, "validation", 4, 1, device="cuda").source,
                          RenderedClips)
    # fewer reads than clips: making them on the fly is cheaper, and a warning says so
    with pytest.warns(UserWarning, match="fewer than the 28 of its pool"):
        assert not use_data_cache(cfg, finite, 5, device="cuda")
    # the unlimited default corpus cannot be rendered: auto warns, on refuses in one line
    unlimited = SyntheticClips("train", SR, 0.25, count=2**32)
    with pytest.warns(UserWarning, match=r"unlimited; give it a finite pool"):
        assert not use_data_cache(cfg, unlimited, 60, device="cuda")
    on = dataclasses.replace(cfg, data_cache="on")
    with pytest.raises(ValueError, match=r"^data_cache: on, but the synthetic corpus is "
                                         r"unlimited; [^\n]*$"):
        use_data_cache(on, unlimited, 60, device="cpu")
    assert use_data_cache(on, finite, 5, device="cpu")  # on: whatever it costs
    off = dataclasses.replace(cfg, data_cache="off")
    assert not use_data_cache(off, finite, 60, device="cuda")


def test_the_trainer_passes_its_device(tmp_path, monkeypatch):
    from lassnet import query
    from lassnet.train import Trainer, trainer

    seen = {}

    def spy(*args, **kwargs):
        seen.update(kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "training_loader", spy)
    cfg = small_config(tmp_path, threads=1)
    run = Trainer(cfg, tmp_path / "run", encoder=query.build("label"),
                  device="cpu", progress=False)
    with pytest.raises(KeyboardInterrupt):
        run.fit()
    assert seen["device"] == torch.device("cpu") and seen["progress"] is False


def test_config_fields(tmp_path):
    assert TrainConfig().data_cache == "auto" and TrainConfig().data_cache_dir is None
    with pytest.raises(ValueError, match=r"^unknown data_cache 'always'; choose from "
                                         r"\['auto', 'on', 'off'\]$"):
        TrainConfig(data_cache="always")
    with pytest.raises(ValueError, match="^data_cache_dir must be a folder path or null"):
        TrainConfig(data_cache_dir=3)
    assert TrainConfig(data_cache_dir=tmp_path).data_cache_dir == str(tmp_path)
    for text, value in (("on", "on"), ("off", "off"), ("auto", "auto"), ('"on"', "on")):
        path = tmp_path / "c.yaml"
        path.write_text(f"data_cache: {text}\n")
        assert yaml.safe_load(path.read_text())["data_cache"] in (True, False, "auto", "on")
        cfg = load_config(path)
        assert cfg.data_cache == value
        assert TrainConfig.from_dict(cfg.to_dict()).data_cache == value


def test_mixtures_on_a_cache_from_the_default_segment_length(tmp_path):
    """A pool made at the mixtures' segment length (duration=None) is rendered at it."""
    cfg = small_config(tmp_path, data_cache="on")
    ds = build_dataset(cfg, SR, "train", 6, cfg.seed, device="cpu")
    assert ds.source.key["duration"] == 0.25
    plain = MixtureDataset(SyntheticClips("train", SR, None, count=28), count=6, sample_rate=SR,
                           duration=0.25, seed=cfg.seed)
    for i in range(6):
        same_item(ds[i], plain[i])

import csv
import io
import logging
import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch

from lassnet.audio import AudioError
from lassnet.data import (
    ESC50,
    FolderDataset,
    MixtureDataset,
    clip_source,
    collate,
    sha256sum,
    write_examples,
)

ESC_ROWS = [
    # filename, fold, target, category, esc10
    ("1-100-A-0.wav", 1, 0, "dog", "True"),
    ("1-101-A-12.wav", 1, 12, "crackling_fire", "True"),
    ("2-102-A-0.wav", 2, 0, "dog", "True"),
    ("2-103-A-40.wav", 2, 40, "helicopter", "False"),
    ("3-104-A-12.wav", 3, 12, "crackling_fire", "True"),
    ("3-105-B-40.wav", 3, 40, "helicopter", "False"),
]


def _wav_bytes(seconds, sr, freq):
    t = np.arange(int(seconds * sr)) / sr
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format="WAV")
    return buffer.getvalue()


@pytest.fixture
def esc50_zip(tmp_path):
    """A tiny archive with the layout of ESC-50's (44.1 kHz, 0.2 s clips)."""
    path = tmp_path / "server" / "master.zip"
    path.parent.mkdir()
    meta = io.StringIO()
    writer = csv.writer(meta)
    writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
    for name, fold, target, category, esc10 in ESC_ROWS:
        writer.writerow([name, fold, target, category, esc10, name.split("-")[1], name[-7]])
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ESC-50-master/meta/esc50.csv", meta.getvalue())
        zf.writestr("ESC-50-master/README.md", "fake")
        for k, (name, *_rest) in enumerate(ESC_ROWS):
            zf.writestr(f"ESC-50-master/audio/{name}", _wav_bytes(0.2, 44100, 300 + 100 * k))
    return path


def test_esc50_download_and_parse(esc50_zip, tmp_path):
    root = tmp_path / "cache"
    ds = ESC50(
        root, download=True, url=esc50_zip.as_uri(), sha256=sha256sum(esc50_zip), progress=False
    )
    assert len(ds) == 6 and ds.sample_rate == 44100
    assert ds.classes == ("dog", "crackling_fire", "helicopter")
    assert ds.class_counts() == {"dog": 2, "crackling_fire": 2, "helicopter": 2}
    item = ds[1]
    assert item["label"] == "crackling_fire" and item["caption"] == "crackling fire"
    assert item["fold"] == 1 and item["wave"].shape == (1, 8820)
    assert not (root / "ESC-50-master.zip").exists()  # the archive is removed once unpacked
    assert [p.name for p in root.iterdir()] == ["ESC-50-master"]
    # Second time: no download needed; folds, ESC-10 and resampling.
    again = ESC50(root, folds=[2, 3], sample_rate=16000, duration=0.25)
    assert len(again) == 4 and again.folds == [2, 2, 3, 3]
    assert again[0]["wave"].shape == (1, 4000) and again.sample_rate == 16000
    assert float(again[0]["wave"][0, 3300:].abs().max()) == 0.0  # padded past 0.2 s
    assert len(ESC50(root, esc10=True)) == 4
    with pytest.raises(ValueError, match="folds"):
        ESC50(root, folds=[6])
    mixtures = MixtureDataset(
        again, count=4, sample_rate=16000, duration=0.1, max_interferers=2
    )
    item = mixtures[0]
    assert item["mixture"].shape == (1, 1600) and item["label"] in again.classes
    assert item["label"] not in item["interferer_labels"]
    by_name = clip_source("esc50", "train", 8000, root=root)  # folds 1-3
    assert by_name.sample_rate == 8000 and set(by_name.folds) == {1, 2, 3}
    with pytest.raises(ValueError, match="no audio"):
        clip_source("esc50", "test", 8000, root=root)  # fold 5: not in the fake archive


def test_esc50_missing_or_corrupt_download(esc50_zip, tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        ESC50(tmp_path / "empty")
    assert not (tmp_path / "empty").exists()  # looking creates no folder (E2, D18)
    root = tmp_path / "cache"
    with pytest.raises(ValueError, match="checksum mismatch"):
        ESC50(root, download=True, url=esc50_zip.as_uri(), sha256="f" * 64, progress=False)
    assert not root.exists()  # no archive, no half-extracted folder, not even the folder
    root.mkdir()
    with pytest.raises(ValueError, match="checksum mismatch"):
        ESC50(root, download=True, url=esc50_zip.as_uri(), sha256="f" * 64, progress=False)
    assert list(root.iterdir()) == []  # a folder that was there stays, empty


def test_folder_dataset_on_example_folder(tmp_path):
    write_examples(tmp_path, per_class=1, sample_rate=16000, duration=0.25)
    ds = FolderDataset(tmp_path)
    assert len(ds) == 14 and len(ds.classes) == 14 and ds.sample_rate == 16000
    with open(tmp_path / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for i in (0, 7, 13):
        item = ds[i]
        assert item["label"] == rows[i]["label"] and item["caption"] == rows[i]["caption"]
        assert item["wave"].shape == (1, 4000)
        assert item["path"].endswith(rows[i]["filename"])
    resampled = FolderDataset(tmp_path, sample_rate=8000, duration=0.5)
    assert resampled[0]["wave"].shape == (1, 4000)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate)
    batch = next(iter(loader))
    assert batch["wave"].shape == (4, 1, 4000) and len(batch["caption"]) == 4


def test_audioset_style_csv_with_multi_labels(tmp_path):
    for k, name in enumerate(["Yaaa.wav", "Ybbb.wav", "Yccc.wav", "Yddd.wav"]):
        (tmp_path / name).write_bytes(_wav_bytes(0.1, 16000, 200 + 50 * k))
    (tmp_path / "balanced_train_segments.csv").write_text(
        "# Segments csv created Sun Mar  5 10:54:31 2017\n"
        "# num_ytids=4, num_segs=4, num_unique_labels=3, num_positive_labels=5\n"
        "# YTID, start_seconds, end_seconds, positive_labels\n"
        'aaa, 30.000, 40.000, "/m/dog,/m/bark"\n'
        'bbb, 0.000, 10.000, "/m/cat"\n'
        'ccc, 10.000, 20.000, "/m/bark"\n'
        'ddd, 5.000, 15.000, "/m/cat,/m/dog"\n'
    )
    names = tmp_path / "names.csv"
    names.write_text("index,mid,display_name\n0,/m/dog,Dog\n1,/m/bark,Bark\n2,/m/cat,Cat\n")
    ds = FolderDataset(
        tmp_path, csv="balanced_train_segments.csv", file_template="Y{YTID}.wav", label_names=names
    )
    assert len(ds) == 4 and set(ds.classes) == {"Dog", "Bark", "Cat"}
    assert ds[0]["caption"] == "dog, bark" and ds.item_classes(0) == ("Dog", "Bark")
    assert ds[0]["label"] == "Dog, Bark"
    assert sorted(ds.indices_of("Dog")) == [0, 3]
    mixtures = MixtureDataset(
        ds, count=6, sample_rate=16000, duration=0.1, target_classes=["Bark"]
    )
    for i in range(6):
        item = mixtures[i]
        assert not set(item["label"].split(", ")) & set(item["interferer_labels"])


def test_caption_only_csv(tmp_path):
    (tmp_path / "a.wav").write_bytes(_wav_bytes(0.1, 8000, 300))
    (tmp_path / "b.wav").write_bytes(_wav_bytes(0.1, 8000, 500))
    (tmp_path / "captions.csv").write_text(
        "file,text\na.wav,a dog barks in the distance\nb.wav,rain on a tin roof\n"
    )
    ds = FolderDataset(tmp_path)
    assert (
        ds[1]["caption"] == "rain on a tin roof" and ds.classes[0] == "a dog barks in the distance"
    )


def test_csv_errors(tmp_path):
    with pytest.raises(ValueError, match="no CSV"):
        FolderDataset(tmp_path)
    (tmp_path / "one.csv").write_text("wavname,tag\na.wav,dog\n")
    with pytest.raises(ValueError, match="file column"):
        FolderDataset(tmp_path)
    (tmp_path / "two.csv").write_text("filename,label\na.wav,dog\n")
    with pytest.raises(ValueError, match="several CSV"):
        FolderDataset(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        FolderDataset(tmp_path / "nope")


def _folder_with_bad_files(tmp_path):
    rows = [("ok1.wav", "dog"), ("bad.wav", "dog"), ("ok2.wav", "dog"), ("cat.wav", "cat")]
    for name, _ in rows:
        if name != "bad.wav":
            (tmp_path / name).write_bytes(_wav_bytes(0.1, 8000, 400))
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really a wave file")
    lines = ["filename,label"] + [f"{n},{label}" for n, label in rows]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")


def test_bad_file_raises_or_is_skipped_and_logged(tmp_path, caplog):
    _folder_with_bad_files(tmp_path)
    strict = FolderDataset(tmp_path)
    with pytest.raises(AudioError, match="bad.wav"):
        strict[1]
    problems = strict.verify()
    assert [p.path.endswith("bad.wav") for p in problems] == [True]
    lenient = FolderDataset(tmp_path, on_error="skip")
    with caplog.at_level(logging.WARNING, logger="lassnet.data"):
        item = lenient[1]
    assert item["label"] == "dog" and item["path"].endswith("ok2.wav")  # same class, next clip
    assert len(lenient.skipped) == 1 and lenient.skipped[0].endswith("bad.wav")
    assert "bad.wav" in caplog.text
    lenient.verify(drop=True)
    assert len(lenient) == 3 and sorted(lenient.indices_of("dog")) == [0, 1]


def test_missing_files_raise_or_are_dropped(tmp_path):
    (tmp_path / "here.wav").write_bytes(_wav_bytes(0.1, 8000, 400))
    (tmp_path / "meta.csv").write_text("filename,label\nhere.wav,dog\ngone.wav,cat\n")
    with pytest.raises(AudioError, match="gone.wav"):
        FolderDataset(tmp_path)
    ds = FolderDataset(tmp_path, on_error="skip")
    assert len(ds) == 1 and ds.skipped[0].endswith("gone.wav")
    with pytest.raises(ValueError, match="on_error"):
        FolderDataset(tmp_path, on_error="ignore")


def test_mixed_sample_rates_need_a_target_rate(tmp_path):
    (tmp_path / "a.wav").write_bytes(_wav_bytes(0.1, 8000, 400))
    (tmp_path / "b.wav").write_bytes(_wav_bytes(0.1, 16000, 400))
    (tmp_path / "meta.csv").write_text("filename,label\na.wav,x\nb.wav,y\n")
    with pytest.raises(AudioError, match="b.wav.*sample_rate="):
        FolderDataset(tmp_path)[1]
    ds = FolderDataset(tmp_path, sample_rate=16000)
    assert ds[0]["wave"].shape == ds[1]["wave"].shape == (1, 1600)


def test_clip_source_by_name_and_folder_splits(tmp_path):
    write_examples(
        tmp_path / "test",
        per_class=1,
        sample_rate=8000,
        duration=0.2,
        classes=["bell", "rain"],
        split="test",
    )
    write_examples(
        tmp_path / "train",
        per_class=2,
        sample_rate=8000,
        duration=0.2,
        classes=["bell", "rain"],
        split="train",
    )
    rows = ["filename,label,caption,split"]
    for split in ("train", "test"):
        for line in (tmp_path / split / "metadata.csv").read_text().splitlines()[1:]:
            name, label, caption, *_ = line.split(",")
            rows.append(f"{split}/{name},{label},{caption},{split}")
    (tmp_path / "all.csv").write_text("\n".join(rows) + "\n")
    train = clip_source("folder", "train", 8000, root=tmp_path, csv="all.csv")
    test = clip_source("folder", "test", 8000, root=tmp_path, csv="all.csv")
    assert len(train) == 4 and len(test) == 2
    assert all("train/" in r["path"].as_posix() for r in train.records)
    plain = (tmp_path / "test" / "metadata.csv").read_text().replace(",split,", ",kind,")
    (tmp_path / "test" / "metadata.csv").write_text(plain)
    with pytest.warns(UserWarning, match="no 'split' column"):
        everything = clip_source("folder", "validation", 8000, root=tmp_path / "test")
    assert len(everything) == 2
    with pytest.raises(ValueError, match="no rows"):
        clip_source("folder", "validation", 8000, root=tmp_path, csv="all.csv")
    synthetic = clip_source("synthetic", "test", 8000, classes=["bell", "rain"])
    assert synthetic.split == "test" and synthetic.duration is None
    assert synthetic[0]["wave"].shape == (1, 40000)  # read directly: DEFAULT_DURATION
    with pytest.raises(ValueError, match="unknown clip source"):
        clip_source("audioset")
    with pytest.raises(ValueError, match="root"):
        clip_source("folder")

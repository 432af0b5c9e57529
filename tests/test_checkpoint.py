"""lassnet.checkpoint and lassnet.files: atomic, stamped, checksummed, safe files."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest
import torch

from lassnet import __version__, checkpoint
from lassnet.checkpoint import CheckpointError
from lassnet.files import atomic_write, write_text
from lassnet.model import LASSModel
from lassnet.separator import SeparationNet


def _payload() -> dict:
    torch.manual_seed(0)
    return {"config": {"width": 3}, "state_dict": {"w": torch.randn(64, 64), "b": torch.zeros(3)},
            "step": 7, "rng": [torch.arange(4), (1, 2.5, None)], "note": "hello"}


# ----------------------------------------------------------------------------- atomic writes
def test_atomic_write_replaces_only_when_complete(tmp_path):
    path = tmp_path / "out.txt"
    write_text(path, "old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_write(path, "w") as fh:
        fh.write("new but half")
        raise RuntimeError("disk full")  # a failure in the middle of writing
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temp file left
    with pytest.raises(KeyboardInterrupt), atomic_write(tmp_path / "new.bin") as fh:
        fh.write(b"x")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    write_text(path, "new")
    assert path.read_text() == "new"


def test_atomic_write_keeps_permissions_and_respects_umask(tmp_path):
    fresh = tmp_path / "sub" / "fresh.bin"  # missing folders are created
    with atomic_write(fresh) as fh:
        fh.write(b"1")
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    os.chmod(fresh, 0o640)
    with atomic_write(fresh) as fh:
        fh.write(b"2")
    assert fresh.stat().st_mode & 0o777 == 0o640 and fresh.read_bytes() == b"2"
    with pytest.raises(ValueError, match="mode"), atomic_write(fresh, "a"):
        pass


# ----------------------------------------------------------------------------- stamping
def test_save_stamps_versions_format_and_checksum(tmp_path):
    path = checkpoint.save(_payload(), tmp_path / "x.pt", kind="separator")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "lassnet.separator/1"
    assert raw["lassnet"] == __version__ and raw["torch"] == str(torch.__version__)
    assert raw["checksum"] == checkpoint.checksum(raw) and len(raw["checksum"]) == 64
    back = checkpoint.load(path, "separator")
    torch.testing.assert_close(back["state_dict"]["w"], _payload()["state_dict"]["w"])
    assert back["rng"][1] == (1, 2.5, None) and back["step"] == 7
    with pytest.raises(ValueError, match="unknown checkpoint kind"):
        checkpoint.save(_payload(), tmp_path / "y.pt", kind="weights")


def test_checksum_covers_every_value():
    base = checkpoint.checksum(_payload())
    assert checkpoint.checksum(_payload()) == base  # deterministic
    changed = _payload()
    changed["state_dict"]["w"][10, 10] += 1e-6
    assert checkpoint.checksum(changed) != base
    changed = _payload()
    changed["step"] = 8
    assert checkpoint.checksum(changed) != base
    changed = _payload()
    changed["state_dict"]["w"] = changed["state_dict"]["w"].double()  # same values, new dtype
    assert checkpoint.checksum(changed) != base
    with_sum = dict(_payload(), checksum="ignored")
    assert checkpoint.checksum(with_sum) == base  # the checksum entry is left out
    with pytest.raises(TypeError, match="cannot checksum"):
        checkpoint.checksum({"hook": object()})


def test_flipped_tensor_bytes_are_caught(tmp_path):
    path = checkpoint.save(_payload(), tmp_path / "x.pt", kind="model")
    data = bytearray(path.read_bytes())
    weight = _payload()["state_dict"]["w"].numpy().tobytes()
    start = bytes(data).index(weight)  # the tensor's bytes, stored uncompressed in the zip
    middle = start + len(weight) // 3
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(bytes(data))
    torch.load(flipped, weights_only=True)  # torch alone does not notice ...
    with pytest.raises(CheckpointError, match="damaged.*checksum"):
        checkpoint.load(flipped, "model")  # ... the checksum does


def test_shipped_files_carry_a_checksum():
    from lassnet.paths import data_dir

    for name, kind in (("tiny-minilm.pt", "model"), ("audio_encoder_minilm.pt", "audio-tower")):
        raw = torch.load(data_dir() / name, weights_only=True)
        assert raw["checksum"] == checkpoint.checksum(raw), name
        assert checkpoint.load(data_dir() / name, kind)["format"] == f"lassnet.{kind}/1"


# ----------------------------------------------------------------------------- reading
def test_wrong_kind_says_what_the_file_is(tmp_path):
    path = checkpoint.save(_payload(), tmp_path / "run.pt", kind="train")
    with pytest.raises(CheckpointError, match=r"is a training checkpoint .*not a separator"):
        checkpoint.load(path, "separator")
    assert checkpoint.load(path, ("model", "train"))["format"] == "lassnet.train/1"
    audiosep = tmp_path / "audiosep.ckpt"
    torch.save({"state_dict": {"ss_model.base.bn0.weight": torch.ones(2)}}, audiosep)
    with pytest.raises(CheckpointError, match="AudioSep checkpoint.*load_audiosep"):
        checkpoint.load(audiosep, "model")
    clap = tmp_path / "clap.pt"
    torch.save({"state_dict": {"module.audio_branch.x": torch.ones(2)}}, clap)
    with pytest.raises(CheckpointError, match="LAION-CLAP"):
        checkpoint.load(clap, "model")
    other = tmp_path / "other.pt"
    torch.save([1, 2, 3], other)
    with pytest.raises(CheckpointError, match="a list, not a lassnet file"):
        checkpoint.load(other, "model")
    legacy = tmp_path / "tower.pt"  # the audio tower's first format name is still read
    torch.save({"format": "lassnet-audio-tower/1", "config": {}}, legacy)
    assert checkpoint.load(legacy, "audio-tower")["format"] == "lassnet.audio-tower/1"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"\x00" * 100, "cannot read it as a checkpoint"),
        (b"PK\x03\x04 truncated zip", "cannot read it as a checkpoint"),
    ],
)
def test_unreadable_files_give_one_line(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        checkpoint.load(path, "model")
    assert "\n" not in str(info.value) and "weights_only" not in str(info.value)


def test_missing_and_folder(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint.load(tmp_path / "nope.pt", "model")
    with pytest.raises(CheckpointError, match="is a folder"):
        checkpoint.load(tmp_path, "model")


class _Trap:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


class _Print:
    def __reduce__(self):
        return (print, ("this ran while loading!",))


def test_refusal_names_what_the_file_asks_for(tmp_path, capsys):
    path = tmp_path / "print.pt"
    torch.save({"format": "lassnet.model/1", "x": _Print()}, path)
    with pytest.raises(CheckpointError) as info:
        checkpoint.load(path, "model")
    message = str(info.value)
    assert "refused to load: it refers to print," in message
    assert "weights_only" not in message and "safe_globals" not in message
    assert "\n" not in message and "ran while loading" not in capsys.readouterr().out


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_code_in_a_file_is_never_run(tmp_path, protocol):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": "lassnet.model/1", "x": _Trap(marker)}, path, pickle_protocol=protocol)
    with pytest.raises(CheckpointError, match=r"refused to load: it refers to posix\.mkdir") as e:
        checkpoint.load(path, "model")
    assert not marker.exists()
    assert "weights_only" not in str(e.value)  # never advises the unsafe option


def test_newer_pickle_protocols_and_numpy_scalars_are_read(tmp_path):
    payload = {"state_dict": {"w": torch.ones(2)}, "esc": np.float64(0.9), "n": np.int64(7)}
    for protocol in (2, 4, 5):
        path = tmp_path / f"p{protocol}.pt"
        torch.save(payload, path, pickle_protocol=protocol)
        got = checkpoint.read_file(path)
        assert float(got["esc"]) == 0.9 and int(got["n"]) == 7
        torch.testing.assert_close(got["state_dict"]["w"], torch.ones(2))


def test_restricted_unpickler_allows_only_data():
    with pytest.raises(pickle.UnpicklingError, match="posix.getcwd"):
        checkpoint._RestrictedUnpickler(io.BytesIO(pickle.dumps(os.getcwd, protocol=4))).load()


# ----------------------------------------------------------------------------- state dicts
def test_load_state_is_strict_and_drops_only_what_it_is_told():
    module = torch.nn.Linear(3, 2)
    good = {"weight": torch.ones(2, 3), "bias": torch.zeros(2)}
    drift = dict(good, position_ids=torch.arange(3))
    assert checkpoint.load_state(module, drift, "file", ignore=["position_ids"]) == [
        "position_ids"]
    torch.testing.assert_close(module.weight, torch.ones(2, 3))
    with pytest.raises(CheckpointError, match="1 unexpected keys.*position_ids"):
        checkpoint.load_state(module, drift, "file")
    with pytest.raises(CheckpointError, match="1 missing keys.*bias"):
        checkpoint.load_state(module, {"weight": torch.ones(2, 3)}, "file")
    with pytest.raises(CheckpointError, match=r"shape mismatch.*\(4, 3\) vs model \(2, 3\)"):
        checkpoint.load_state(module, dict(good, weight=torch.ones(4, 3)), "file")
    with pytest.raises(CheckpointError, match="names to tensors"):
        checkpoint.load_state(module, {"weight": [1.0]}, "file")


# ----------------------------------------------------------------------------- the users
def test_model_files_round_trip_and_refuse_each_other(tmp_path):
    net = SeparationNet.from_preset("tiny", condition_dim=8).eval()
    net.save(tmp_path / "sep.pt")
    model = LASSModel(net, query_name="minilm")
    model.save(tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="is a model .*not a separator"):
        SeparationNet.load(tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="is a separator .*not a model"):
        LASSModel.load(tmp_path / "sep.pt")
    again = LASSModel.load(tmp_path / "model.pt")
    x, e = torch.randn(1, 1, 4000), torch.randn(1, 8)
    torch.testing.assert_close(again.separator(x, e), net(x, e))
    bad = torch.load(tmp_path / "model.pt", weights_only=True)
    bad["query"] = "minilm"  # malformed recipe (a string, not a dict)
    del bad["checksum"]
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="recipe is missing or malformed"):
        LASSModel.load(tmp_path / "bad.pt")

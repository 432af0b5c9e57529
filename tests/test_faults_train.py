"""Training and queries under faults: the rows of the reliability fault matrix that concern
``lassnet train`` and the text encoder (chapter 7, "Training"; chapter 4, "QueryNet").

Each test names the matrix rows it covers (T2-T24, Q4-Q7) and the defect (D2, D3, D5, D6,
D13, D16, D17). Faults are real where a test can make them without root (signals, killed
processes, a second process holding the lock, damaged files) and simulated where it cannot
(a full disk, a read-only folder: the operating system's own error raised by a patched call).
"""

from __future__ import annotations

import contextlib
import errno
import gc
import io
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
import torch
import yaml

from lassnet import checkpoint, files, query
from lassnet.checkpoint import CheckpointError
from lassnet.cli import main
from lassnet.testing import TINY_SEPARATOR
from lassnet.train import TrainConfig, Trainer, read_log
from lassnet.train import state as train_state
from lassnet.train.state import CHECKPOINT, LOCK, LOSS_LOG, MODEL, VAL_LOG, RunFolderError

ROOT = Path(__file__).resolve().parents[1]


def small(**kw) -> TrainConfig:
    """A run of seconds: the two-level tiny separator on half-second mixtures, the label
    encoder (no language model to load), one thread."""
    base = dict(name="faults", preset="tiny", separator=TINY_SEPARATOR, query="label",
                duration=0.5, batch_size=2, steps=6, warmup_steps=2, log_every=1,
                checkpoint_every=3, validate_every=6, val_size=2, seed=3, threads=1)
    return TrainConfig(**(base | kw))


def write_config(path: Path, cfg: TrainConfig) -> Path:
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    return path


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / CHECKPOINT, weights_only=True)["state_dict"]


def step_of(path: Path) -> int:
    return int(torch.load(path, weights_only=True)["step"])


def assert_bit_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:3]}"


def temporaries(run: Path) -> list[str]:
    return sorted(p.name for p in run.glob(".*.tmp"))


def cli_env() -> dict[str, str]:
    return dict(os.environ, PYTHONUNBUFFERED="1",
                PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                           if p))


def train_cmd(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lassnet.cli", "train", "--config", str(config), "--out",
            str(out), "--device", "cpu", *extra]


def wait_for_step(out: Path, proc: subprocess.Popen, step: int, timeout: float = 240) -> int:
    """Poll ``out/checkpoint.pt`` until it holds ``step`` or later; returns that step."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, f"the run ended early (status {proc.returncode})"
        try:
            seen = step_of(out / CHECKPOINT)
        except (FileNotFoundError, RuntimeError, EOFError):
            seen = -1
        if seen >= step:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of step {step} within {timeout} s")


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The reference: :func:`small` trained straight to its end."""
    out = tmp_path_factory.mktemp("straight")
    Trainer(small(), out, progress=False).fit()
    return out


@pytest.fixture(scope="module")
def minilm():
    return query.build("minilm")


# ================================================================= D2: exact resume (T2-T6)
MINILM_RUN = dict(query="minilm", batch_size=4, steps=40, log_every=5, checkpoint_every=5,
                  validate_every=20, val_size=4, num_workers=1)


@pytest.fixture(scope="module")
def minilm_reference(tmp_path_factory):
    """40 steps of 4 mixtures with the real MiniLM and its default options (cache on), run
    straight; returns the run folder and the captions each step embedded."""
    out = tmp_path_factory.mktemp("minilm-straight")
    trainer = Trainer(small(**MINILM_RUN), out, progress=False)
    assert trainer.encoder.cache.maxsize > 0  # the default: cached
    captions: list[list[str]] = []
    embed = trainer.encoder.embed_text

    def spy(texts):
        if trainer.model.training:
            captions.append(list(texts))
        return embed(texts)

    trainer.encoder.embed_text = spy
    trainer.fit()
    return out, captions


def test_sigkill_then_rerun_is_bit_identical_with_minilm_and_its_cache_T2_T6(
        tmp_path, minilm_reference):
    """T2 (D2, D16): SIGKILL a real ``lassnet train`` with MiniLM (default options: the
    embedding cache on), run the same command again: every weight tensor and every logged
    loss equals the uninterrupted run's exactly (torch.equal), although the resumed process
    embeds afresh captions the straight one took from its cache."""
    reference, captions = minilm_reference
    config = write_config(tmp_path / "run.yaml", small(**MINILM_RUN))
    out = tmp_path / "run"
    cmd = train_cmd(config, out)
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        killed_at = wait_for_step(out, proc, 10)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert killed_at < 40
    # Captions repeat across the resume: the straight run served these from its cache,
    # the resumed one embeds them anew (in other batches).
    before = {c for step in captions[:killed_at] for c in step}
    after = {c for step in captions[killed_at:] for c in step}
    assert len(before & after) >= 5
    done = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert_bit_identical(weights(out), weights(reference))
    logged = [[(r["step"], r["loss"], r["lr"]) for r in read_log(run / LOSS_LOG)]
              for run in (out, reference)]
    assert logged[0] == logged[1]  # every logged loss, to the last bit
    assert temporaries(out) == []


def test_text_embeddings_do_not_depend_on_the_batch_or_the_threads_D2(minilm):
    """D2's cause: a caption embedded beside longer captions (padding) or on another number
    of threads came out ~1e-7 different. Now each text's embedding is the same bits
    whatever else is in the batch, and on 1 or 2 threads."""
    encoder = minilm
    caption = "a siren wailing"
    others = ["a telephone ringing again and again in an empty office", "rain"]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        encoder.clear_cache()
        alone = encoder.embed_text([caption])
        torch.set_num_threads(2)
        encoder.clear_cache()
        in_batch = encoder.embed_text([others[0], caption, others[1]])
        assert torch.get_num_threads() == 2  # the caller's thread count is left alone
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(alone[0], in_batch[1])
    encoder.clear_cache()
    assert torch.equal(encoder.embed_text(others[:1])[0], in_batch[0])


# ================================================================= D5: signals during a save
def _slowed_write(monkeypatch, on_half):
    """Make every checkpoint file be written in two halves, calling ``on_half(path)`` in
    between: a signal sent there arrives while the checkpoint is being written."""
    real = files.atomic_write

    class HalfWriter:
        def __init__(self, fh, path):
            self.fh, self.path = fh, Path(path)

        def write(self, data):
            data = memoryview(data)
            half = len(data) // 2
            self.fh.write(data[:half])
            on_half(self.path)
            return self.fh.write(data[half:]) + half

        def __getattr__(self, name):
            return getattr(self.fh, name)

    @contextlib.contextmanager
    def slowed(path, mode="wb", **kw):
        with real(path, mode, **kw) as fh:
            yield HalfWriter(fh, path) if Path(path).name == CHECKPOINT else fh

    monkeypatch.setattr(checkpoint, "atomic_write", slowed)


def test_sigterm_during_a_checkpoint_write_finishes_it_then_stops_T7(tmp_path, straight,
                                                                     monkeypatch):
    """T7 (D5): a real SIGTERM delivered while ``checkpoint.pt`` is half-written: the write
    completes, then the run stops with KeyboardInterrupt (the CLI's "stopped" message); the
    checkpoint is complete (its checksum holds) and resuming ends on the straight run's
    weights, bit for bit."""
    trainer = Trainer(small(), tmp_path, progress=False)
    sent = []

    def signal_at_step_3(path):
        if not sent:
            sent.append(trainer.step)
            os.kill(os.getpid(), signal.SIGTERM)  # arrives now, half the file written

    _slowed_write(monkeypatch, signal_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert sent == [3]
    assert checkpoint.load(tmp_path / CHECKPOINT, "train")["step"] == 3  # complete, checked
    assert checkpoint.load(tmp_path / MODEL, "model")["step"] == 3
    assert temporaries(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers put back
    monkeypatch.undo()
    Trainer(small(), tmp_path, progress=False).fit()
    assert_bit_identical(weights(tmp_path), weights(straight))


def test_second_signal_during_a_checkpoint_write_abandons_it_and_keeps_the_last_T8(
        tmp_path, straight, monkeypatch):
    """T8 (D5): Ctrl-C twice, both while the step-6 checkpoint is being written: the write
    is abandoned without a torn file or a temporary left, the step-3 checkpoint stays, and
    a rerun ends on the straight run's weights."""
    trainer = Trainer(small(), tmp_path, progress=False)

    def two_signals(path):
        if trainer.step == 6:
            os.kill(os.getpid(), signal.SIGINT)  # held: the write goes on
            os.kill(os.getpid(), signal.SIGINT)  # the second abandons it

    _slowed_write(monkeypatch, two_signals)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert checkpoint.load(tmp_path / CHECKPOINT, "train")["step"] == 3
    assert temporaries(tmp_path) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.undo()
    Trainer(small(), tmp_path, progress=False).fit()
    assert_bit_identical(weights(tmp_path), weights(straight))


_SLOW_SAVE_CLI = textwrap.dedent("""
    import os, sys, time
    from lassnet import checkpoint
    real = checkpoint.save
    def slow(payload, path, kind, version=1):
        if kind == "train" and payload["step"] == {step}:
            open(str(path) + ".writing", "w").close()  # tell the test: the write has begun
            for _ in range(1200):  # until the test has sent its signal
                if os.path.exists(str(path) + ".sent"):
                    break
                time.sleep(0.05)
        return real(payload, path, kind, version)
    checkpoint.save = slow
    from lassnet.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_cli_sigterm_during_a_save_and_group_sigterm_print_no_traceback_T5_T7_T9(tmp_path):
    """T7 and T9 (D5, D17), through the command: SIGTERM while a checkpoint is being
    written (the write slowed down), then SIGTERM to the whole process group (what docker
    and systemd send), data-loading worker included. Each time: status 130, the "stopped"
    line, no traceback (no DataLoader-worker error), a complete checkpoint. T5: the run,
    stopped twice and resumed, ends on the weights of a run that never stopped."""
    cfg = small(steps=400, checkpoint_every=2, validate_every=400, num_workers=1)
    config = write_config(tmp_path / "run.yaml", cfg)
    out = tmp_path / "run"
    script = ["-c", _SLOW_SAVE_CLI.format(step=4)]
    log = tmp_path / "stderr.txt"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, *script, "train", "--config", str(config),
                                 "--out", str(out), "--device", "cpu"], env=cli_env(),
                                stdout=subprocess.DEVNULL, stderr=fh)
    marker = out / (CHECKPOINT + ".writing")
    deadline = time.time() + 240
    while not marker.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), log.read_text()[-3000:]
    proc.send_signal(signal.SIGTERM)
    (out / (CHECKPOINT + ".sent")).touch()  # the save may go on now
    proc.wait(timeout=120)
    err = log.read_text()
    assert proc.returncode == 130, err[-3000:]
    assert "stopped; the last checkpoint is in" in err and "Traceback" not in err
    assert checkpoint.load(out / CHECKPOINT, "train")["step"] == 4  # the write completed

    with open(log, "w") as fh:
        proc = subprocess.Popen(train_cmd(config, out), env=cli_env(),
                                stdout=subprocess.DEVNULL, stderr=fh, start_new_session=True)
    try:
        wait_for_step(out, proc, 8)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the group: the CLI and its loader worker
    proc.wait(timeout=120)
    err = log.read_text()
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "DataLoader worker" not in err, err[-3000:]
    assert "stopped; the last checkpoint is in" in err
    assert checkpoint.load(out / CHECKPOINT, "train")["step"] >= 8
    assert temporaries(out) == [] and not (out / LOCK).exists()

    done = subprocess.run(train_cmd(config, out, "--steps", "12"), env=cli_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    reference = tmp_path / "straight"
    Trainer(small(steps=12, checkpoint_every=2, validate_every=400, num_workers=1), reference,
            progress=False).fit()
    assert_bit_identical(weights(out), weights(reference))


# ================================================================= D3: damaged checkpoints
def _flip(data: bytes, at: float, n: int = 64) -> bytes:
    b = bytearray(data)
    m = int(len(b) * at)
    b[m:m + n] = bytes(x ^ 0xFF for x in b[m:m + n])
    return bytes(b)


def _flip_inside_largest_tensor(data: bytes, n: int = 64) -> bytes:
    """Flip ``n`` bytes in the middle of the largest tensor's bytes: torch's zip stores each
    storage uncompressed as ``<archive>/data/<key>``, after a local header of 30 bytes plus
    its name and extra field."""
    import io
    import struct
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename),
                   key=lambda i: i.file_size)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:
                                                   info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    middle = start + info.file_size // 2
    b = bytearray(data)
    b[middle:middle + n] = bytes(x ^ 0xFF for x in b[middle:middle + n])
    return bytes(b)


@pytest.mark.parametrize("row, damage, reason", [
    ("T10", lambda b: b[: len(b) // 2], "cannot read it as a checkpoint"),
    ("T11", lambda b: _flip_inside_largest_tensor(b), "is damaged"),
    ("T12", lambda b: _flip(b, 0.0, 200), "cannot read it as a checkpoint"),
    ("T14", lambda b: b"", "is empty"),
])
def test_a_damaged_checkpoint_is_moved_aside_never_overwritten_T10_T11_T12_T14(
        tmp_path, straight, row, damage, reason):
    """T10 truncated, T11 bytes flipped inside a tensor (only the checksum notices), T12
    flipped in the header, T14 empty (D3): one clear error that says the file was moved to
    ``checkpoint.pt.damaged``, where its bytes stay as they were; nothing is trained or
    overwritten; running again starts afresh from step 0 with fresh logs."""
    run = tmp_path / "run"
    run.mkdir()
    for name in (LOSS_LOG, VAL_LOG):
        (run / name).write_bytes((straight / name).read_bytes())
    bad = damage((straight / CHECKPOINT).read_bytes())
    (run / CHECKPOINT).write_bytes(bad)
    with pytest.raises(CheckpointError, match=reason) as err:
        Trainer(small(), run, progress=False)
    message = str(err.value)
    assert "\n" not in message and f"moved aside to {run / CHECKPOINT}.damaged" in message
    assert (run / (CHECKPOINT + ".damaged")).read_bytes() == bad  # the evidence, intact
    assert not (run / CHECKPOINT).exists() and not (run / LOCK).exists()
    fresh = Trainer(small(steps=2), run, progress=False)
    assert fresh.step == 0 and not (run / LOSS_LOG).exists()
    fresh.fit()
    assert [r["step"] for r in read_log(run / LOSS_LOG)] == [1, 2]
    # A second damaged file does not replace the first one's evidence.
    (run / CHECKPOINT).write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"\.damaged\.1"):
        Trainer(small(), run, progress=False)
    assert (run / (CHECKPOINT + ".damaged")).read_bytes() == bad


def test_unusable_but_undamaged_checkpoints_stay_where_they_are_T16_T17_T18(tmp_path,
                                                                          straight):
    """T16 a folder named checkpoint.pt, T17 a pickle that would run code, T18 a model.pt
    copied over checkpoint.pt: one clear error each; these files are not damage, and stay."""
    run = tmp_path / "run"
    (run / CHECKPOINT).mkdir(parents=True)
    with pytest.raises(CheckpointError, match="is a folder"):
        Trainer(small(), run, progress=False)
    (run / CHECKPOINT).rmdir()

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch pwned",))

    torch.save(Evil(), run / CHECKPOINT)
    with pytest.raises(CheckpointError, match="refused to load"):
        Trainer(small(), run, progress=False)
    assert (run / CHECKPOINT).exists() and not Path("pwned").exists()
    (run / CHECKPOINT).write_bytes((straight / MODEL).read_bytes())
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        Trainer(small(), run, progress=False)
    assert (run / CHECKPOINT).read_bytes() == (straight / MODEL).read_bytes()
    assert not list(run.glob("*.damaged*"))


# ================================================================= D16: the run folder
def test_stray_temporaries_are_removed_and_other_files_kept_T2(tmp_path, straight):
    """T2's leftover (D16): a killed save leaves ``.checkpoint.pt.*.tmp``; the next run on
    the folder removes the run's own temporaries, and nothing else."""
    run = tmp_path / "run"
    run.mkdir()
    (run / CHECKPOINT).write_bytes((straight / CHECKPOINT).read_bytes())
    strays = [".checkpoint.pt.k2j4.tmp", ".model.pt.x.tmp", ".train_log.csv.q.tmp"]
    for name in strays:
        (run / name).write_bytes(b"partial")
    keep = [".notes.tmp", "notes.txt", "checkpoint.pt.damaged"]
    for name in keep:
        (run / name).write_text("mine")
    Trainer(small(), run, progress=False)
    assert temporaries(run) == [".notes.tmp"]
    assert all((run / name).read_text() == "mine" for name in keep)


def test_no_checkpoint_but_old_logs_starts_the_logs_afresh_T15(tmp_path, straight):
    """T15 (D16): checkpoint.pt deleted, the logs kept: the run restarts from step 0 and its
    logs hold each step once."""
    run = tmp_path / "run"
    run.mkdir()
    for name in (LOSS_LOG, VAL_LOG, MODEL):
        (run / name).write_bytes((straight / name).read_bytes())
    Trainer(small(), run, progress=False).fit()
    assert [r["step"] for r in read_log(run / LOSS_LOG)] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in read_log(run / VAL_LOG)] == [6]
    assert_bit_identical(weights(run), weights(straight))


_HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from lassnet.train.state import RunLock
    RunLock.acquire(sys.argv[1])
    print("holding", flush=True)
    time.sleep(300)
""")


def test_a_second_run_on_the_same_folder_is_refused_and_a_dead_ones_lock_taken_over_T22(
        tmp_path, capsys):
    """T22 (D16): while another process trains in a folder, a second run there stops before
    touching anything, in one line naming the holder's process id (status 1 from the
    command); once that process is gone (killed: its lock file stays behind), the folder is
    taken over. Two trainers in one process (a notebook cell run twice) share the lock."""
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(run)], env=cli_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(RunFolderError, match=f"in use by another training run "
                           rf"\(process {holder.pid}, started "):
            Trainer(small(), run, progress=False)
        config = write_config(tmp_path / "run.yaml", small())
        code = main(["train", "--config", str(config), "--out", str(run), "--device", "cpu"])
    except SystemExit as stop:
        code = stop.code
    finally:
        holder.kill()
        holder.wait()
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("lassnet train: error: ") and str(holder.pid) in err[-1]
    assert "Traceback" not in "".join(err)
    assert sorted(p.name for p in run.iterdir()) == [LOCK]  # nothing written meanwhile
    first = Trainer(small(steps=2), run, progress=False)  # the dead holder's lock: taken
    second = Trainer(small(steps=2), run, progress=False)  # same process: shared
    second.fit()
    assert [r["step"] for r in read_log(run / LOSS_LOG)] == [1, 2]
    assert (run / LOCK).exists()  # the first trainer still holds it
    del first
    gc.collect()
    assert not (run / LOCK).exists()


# ================================================================= D6: full disk, read-only
def test_a_read_only_run_folder_fails_before_any_step_T19_T20(tmp_path, monkeypatch, capsys,
                                                            straight):
    """T19 (a new --out on a read-only file system) and T20 (resuming in a folder that became
    read-only), D6: one line naming the system's reason before any step is trained (before,
    the run failed 5 steps later at the first log row); status 1 from the command; the
    checkpoint untouched. (Root ignores chmod, so the file system's EROFS is simulated.)"""
    def read_only(*args, dir=None, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dir))

    monkeypatch.setattr(train_state.tempfile, "mkstemp", read_only)
    steps = []
    monkeypatch.setattr(Trainer, "train_step", lambda self, batch: steps.append(1))
    with pytest.raises(RunFolderError, match="cannot write in the run folder .*Read-only "
                       "file system.*choose another folder"):
        Trainer(small(), tmp_path / "new", progress=False)
    run = tmp_path / "resume"
    run.mkdir()
    (run / CHECKPOINT).write_bytes((straight / CHECKPOINT).read_bytes())
    config = write_config(tmp_path / "run.yaml", small(steps=10))
    with pytest.raises(SystemExit) as stop:
        main(["train", "--config", str(config), "--out", str(run), "--device", "cpu"])
    assert stop.value.code == 1 and steps == []
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("lassnet train: error: cannot write in the run folder")
    assert "Read-only file system" in err[-1] and "Traceback" not in "".join(err)
    assert (run / CHECKPOINT).read_bytes() == (straight / CHECKPOINT).read_bytes()


def test_a_full_disk_during_a_checkpoint_says_no_space_and_keeps_the_last_T21(
        tmp_path, monkeypatch, capsys):
    """T21 (D6, D16): the disk fills while the step-6 checkpoint is written (the write fails
    half-way with ENOSPC, as a full file system's does): the message says "No space left on
    device" (torch's zip writer used to hide it as "unexpected pos ..."), in one line with
    status 1 from the command; the step-3 checkpoint is intact; no temporary is left."""
    real = files.atomic_write

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            self.fh.write(memoryview(data)[:1000])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.fh, name)

    state = {"saves": 0}

    @contextlib.contextmanager
    def filling(path, mode="wb", **kw):
        with real(path, mode, **kw) as fh:
            if Path(path).name == CHECKPOINT:
                state["saves"] += 1
            yield Full(fh) if state["saves"] >= 2 and Path(path).name == CHECKPOINT else fh

    monkeypatch.setattr(checkpoint, "atomic_write", filling)
    config = write_config(tmp_path / "run.yaml", small())
    run = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        main(["train", "--config", str(config), "--out", str(run), "--device", "cpu"])
    assert stop.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"lassnet train: error: cannot write the checkpoint of step 6 in {run}: "
                       "No space left on device; the checkpoint of step 3 is kept; make room "
                       "(or fix the folder) and run again to resume")
    assert "Traceback" not in "".join(err)
    assert checkpoint.load(run / CHECKPOINT, "train")["step"] == 3
    assert temporaries(run) == [] and not (run / LOCK).exists()


def test_too_little_space_for_a_checkpoint_fails_before_any_step_T21(tmp_path, monkeypatch):
    """T21's rerun on the full disk (D6): the free space is compared with a checkpoint's
    size before the first step, instead of failing at the first save."""
    monkeypatch.setattr(train_state, "_free_bytes", lambda folder: 50_000)
    with pytest.raises(RunFolderError, match=r"not enough space in .*: [\d.]+ MB free, a "
                       r"checkpoint of this run takes about [\d.]+ MB \(No space left on "
                       r"device\)"):
        Trainer(small(), tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the lock let go


def test_checkpoint_save_reports_the_systems_error(monkeypatch):
    """D6: :func:`lassnet.checkpoint.save` serialises in memory and writes bytes, so what
    the operating system says reaches the caller as an OSError of its own errno."""
    class NoSpace(io.RawIOBase):
        def writable(self):
            return True

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    @contextlib.contextmanager
    def full(path, mode="wb"):
        yield NoSpace()

    monkeypatch.setattr(checkpoint, "atomic_write", full)
    with pytest.raises(OSError, match="No space left on device") as err:
        checkpoint.save({"w": torch.ones(1000)}, "unused.pt", kind="model")
    assert err.value.errno == errno.ENOSPC


# ================================================================= D17: command-line options
@pytest.mark.parametrize("row, args, message", [
    ("T24 yaml", ["--config", "{bad_yaml}"], r"bad\.yaml: not valid YAML at line \d+, column"),
    ("T24 tpu9", ["--device", "tpu9"], r"unknown device 'tpu9'; use cpu, cuda or cuda:N"),
    ("T24 cuda", ["--device", "cuda"], r"device 'cuda' was asked for, but CUDA is not "),
    ("T24 file", ["--out", "{a_file}"], r"the run folder .*a_file is a file; choose a folder"),
])
def test_command_line_mistakes_give_one_line_and_status_2_T24(tmp_path, capsys, row, args,
                                                              message):
    """T24 (D17): a YAML syntax error, ``--device cuda`` without a GPU, ``--device tpu9``,
    ``--out`` naming a file: one line each, status 2, no traceback, nothing trained."""
    if row == "T24 cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("preset: tiny\nsteps: [1, 2\n")
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    config = write_config(tmp_path / "good.yaml", small())
    argv = {"--config": str(config), "--out": str(tmp_path / "run"), "--device": "cpu"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        argv[flag] = value.format(bad_yaml=bad_yaml, a_file=a_file)
    code = main(["train", *(x for kv in argv.items() for x in kv)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and "Traceback" not in "".join(err)
    assert err[-1].startswith("lassnet train: error: ")
    assert re.search(message, err[-1]), err[-1]
    assert not (tmp_path / "run" / CHECKPOINT).exists()
    assert a_file.read_text() == "not a folder"


# ================================================================= D13: meaningless queries
@pytest.mark.parametrize("row, text", [
    ("Q5", "🚨🚨 🔔"),
    ("Q6", "警笛声"),
    ("Q4/Q5", "x" * 10_000),  # one 'word' too long to split: [UNK]
])
def test_text_the_encoder_cannot_read_is_refused_Q5_Q6(minilm, row, text):
    """Q5 (emoji), Q6 (Chinese), D13: MiniLM reads them as [UNK] tokens only, the same
    embedding for all of them, so the query is refused in one line that says why."""
    with pytest.raises(ValueError, match="has no word the text encoder knows") as err:
        minilm.embed_text(["a siren wailing", text])
    assert "\n" not in str(err.value) and len(str(err.value)) < 300
    assert text not in minilm.cache  # a refused text is never cached
    minilm.embed_text(["a siren 🚨"])  # one known word is enough


@pytest.mark.parametrize("text", ["\u200b\u200b", "\ufeff\u2060 \u200d", " \t"])
def test_invisible_text_counts_as_empty_Q7(minilm, text):
    """Q7 (D13): a query of zero-width spaces (or joiners, byte-order marks) passed the
    empty-query check and gave the model no token at all; it is now an empty query."""
    with pytest.raises(ValueError, match="text query 0 is empty or only whitespace "
                       r"\(or invisible characters"):
        minilm.embed_text([text])


def test_a_query_longer_than_the_encoder_reads_warns_how_much_is_cut_Q4(minilm):
    """Q4 (D13): MiniLM reads 254 word pieces (256 positions with its markers); a longer
    query is cut, with a warning naming the length and what is ignored; the embedding is the
    one of its first 254 pieces."""
    long = " ".join(["siren"] * 254 + ["bell"] * 46)
    with pytest.warns(UserWarning, match=r"is 300 word pieces long; the 'minilm' encoder "
                      r"reads only the first 254, so the last 46 are ignored") as caught:
        emb = minilm.embed_text([long])
    assert caught[0].filename == __file__  # points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cut = minilm.embed_text([" ".join(["siren"] * 254)])  # exactly fits: no warning
    assert torch.equal(emb, cut)


def test_the_separate_command_refuses_an_emoji_query_in_one_line_Q5(tmp_path, capsys):
    """Q5 through ``lassnet separate`` (D13): status 2, one line, no output file."""
    import numpy as np
    import soundfile as sf

    wav = tmp_path / "ok.wav"
    t = np.arange(16000) / 16000
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 1000 * t)).astype("float32"), 16000)
    out = tmp_path / "out.wav"
    code = main(["separate", str(wav), "-q", "🚨", "-o", str(out)])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no word the text encoder knows" in err[0]

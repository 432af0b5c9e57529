"""The pieces of lassnet.train that need no training run: random streams, CSV logs, deferred
signals, the indices each step reads."""

import os
import random
import signal
import threading

import numpy as np
import pytest
import torch

from lassnet.train import StepBatches
from lassnet.train.state import (
    LOCK,
    DeferredSignals,
    RandomStreams,
    RunFolderError,
    RunLock,
    StopRequested,
    append_log,
    describe_os_error,
    ignore_stop_signals,
    read_log,
    truncate_log,
)


# ----------------------------------------------------------------------------- random streams
def _draws():
    return torch.rand(3).tolist(), np.random.rand(), random.random()


def test_random_streams_are_the_runs_own():
    run = RandomStreams.seeded(7)
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    caller_next = _draws()
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)

    with run.active():
        first = _draws()
        inside = run.state()  # live: after the first draws
    assert _draws() == caller_next  # the caller's generators continue where they were

    torch.manual_seed(2)  # whatever the caller does meanwhile
    with run.active():
        second = _draws()
    # The run's second draws are what one uninterrupted stream would have given.
    torch.manual_seed(7)
    np.random.seed(7)
    random.seed(7)
    assert first == _draws() and second == _draws()
    # A copy of the state taken inside the block continues the same way.
    with RandomStreams(inside).active():
        assert _draws() == second


def test_random_streams_come_back_after_an_exception_and_do_not_nest():
    run = RandomStreams.seeded(0)
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    with pytest.raises(RuntimeError, match="inside"), run.active():
        torch.rand(4)
        raise RuntimeError("inside the block")
    torch.testing.assert_close(torch.rand(2), expected)
    with run.active(), pytest.raises(RuntimeError, match="already active"), run.active():
        pass


# ----------------------------------------------------------------------------- logs
def test_logs_append_truncate_and_read(tmp_path):
    log = tmp_path / "train_log.csv"
    for step in (1, 2, 3, 4):
        append_log(log, dict(step=step, loss=1.0 / step, lr=1e-3))
    rows = read_log(log)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert isinstance(rows[0]["step"], int) and rows[1]["loss"] == pytest.approx(0.5)
    assert log.read_text().splitlines()[0] == "step,loss,lr"
    with pytest.raises(ValueError, match=r"columns \['step', 'loss', 'lr'\], not"):
        append_log(log, dict(step=5, loss=0.2))
    truncate_log(log, 2)  # a resume from step 2 drops rows 3 and 4
    assert [r["step"] for r in read_log(log)] == [1, 2]
    append_log(log, dict(step=3, loss=0.3, lr=1e-3))
    assert [r["step"] for r in read_log(log)] == [1, 2, 3]
    truncate_log(log, 0)
    assert not log.exists()
    truncate_log(log, 0)  # nothing to do
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no temporary files left


# ----------------------------------------------------------------------------- signals
def test_deferred_signals_hold_one_signal_during_a_step():
    signals = DeferredSignals()
    signals.install()
    try:
        signals.busy = True
        os.kill(os.getpid(), signal.SIGINT)  # held: the step goes on
        assert signals.pending
        with pytest.raises(KeyboardInterrupt):  # a second one stops at once
            os.kill(os.getpid(), signal.SIGINT)
        signals.busy, signals.pending = False, False
        with pytest.raises(StopRequested):  # between steps: at once
            os.kill(os.getpid(), signal.SIGTERM)
    finally:
        signals.restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_held_blocks_nest_and_a_second_signal_marks_the_work_abandoned():
    """The trainer holds signals around a step and, inside it, around the checkpoint write:
    the inner block's end must not release the outer one. ``stopping`` (a stop already under
    way) makes the next signal the second one."""
    signals = DeferredSignals()
    signals.install()
    try:
        with signals.held():
            with signals.held():
                pass
            assert signals.busy  # still inside the outer block
            os.kill(os.getpid(), signal.SIGTERM)
            assert signals.pending and not signals.abandoned
        assert not signals.busy
        signals.pending = False
        with pytest.raises(KeyboardInterrupt), signals.held(stopping=True):
            os.kill(os.getpid(), signal.SIGINT)
        assert signals.abandoned
    finally:
        signals.restore()


def test_loader_workers_ignore_stop_signals():
    """A data-loading worker ignores SIGINT and SIGTERM (the main process handles a stop)."""
    old = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        ignore_stop_signals(0)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])


def test_run_lock_is_shared_in_a_process_and_released_by_its_last_user(tmp_path):
    first = RunLock.acquire(tmp_path)
    second = RunLock.acquire(tmp_path)
    assert first is second and (tmp_path / LOCK).exists()
    assert str(os.getpid()) in (tmp_path / LOCK).read_text()
    first.release()
    assert (tmp_path / LOCK).exists()
    second.release()
    assert not (tmp_path / LOCK).exists()
    second.release()  # once too often: nothing happens


def test_os_errors_in_words():
    assert describe_os_error(OSError(28, "No space left on device")) == "No space left on device"
    assert describe_os_error(OSError(30, "Read-only file system", "/x")) == (
        "Read-only file system: /x")
    assert describe_os_error(RunFolderError("the folder is full")) == "the folder is full"


def test_deferred_signals_outside_the_main_thread_change_nothing():
    signals = DeferredSignals()
    thread = threading.Thread(target=signals.install)
    thread.start()
    thread.join()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    signals.restore()


# ----------------------------------------------------------------------------- data
def test_step_batches_never_repeat_and_resume_where_they_stopped():
    world, batch, steps = 3, 4, 5
    seen = [i for rank in range(world) for b in StepBatches(0, steps, batch, rank, world)
            for i in b]
    assert sorted(seen) == list(range(steps * batch * world))  # every index once
    resumed = list(StepBatches(2, steps, batch, rank=1, world=world))
    assert resumed == list(StepBatches(0, steps, batch, rank=1, world=world))[2:]
    assert len(StepBatches(2, steps, batch)) == 3


def test_a_file_system_without_locks_trains_with_a_warning(tmp_path, monkeypatch):
    """Some network mounts refuse ``flock``: the run is not stopped, it is warned."""
    import errno

    from lassnet.train import state

    def refuse(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(state.fcntl, "flock", refuse)
    with pytest.warns(RuntimeWarning, match="cannot lock the run folder .*No locks available"):
        lock = RunLock.acquire(tmp_path)
    lock.release()

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lassnet import checkpoint, query
from lassnet.checkpoint import CheckpointError
from lassnet.plot import plot_curves
from lassnet.testing import TINY_SEPARATOR as SMALL
from lassnet.train import TrainConfig, Trainer, load_config, read_log
from lassnet.train.state import CHECKPOINT, LOSS_LOG, VAL_LOG


def small_config(**kw) -> TrainConfig:
    base = dict(name="small", preset="tiny", separator=SMALL, duration=0.5,
                batch_size=2, steps=6, warmup_steps=2, log_every=1, checkpoint_every=3,
                validate_every=6, val_size=2, seed=3, threads=1)
    return TrainConfig(**(base | kw))


@pytest.fixture(scope="module")
def encoder():
    return query.build("minilm")


def weights(run_dir):
    return torch.load(Path(run_dir) / CHECKPOINT, weights_only=True)["state_dict"]


def assert_same_weights(a, b):
    """Bit-identical: a resumed run makes exactly the updates of an uninterrupted one."""
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:3]}"


@pytest.fixture(scope="module")
def straight(tmp_path_factory, encoder):
    out = tmp_path_factory.mktemp("straight")
    summary = Trainer(small_config(), out, encoder=encoder, progress=False).fit()
    assert summary["steps"] == 6
    return out


def test_training_writes_logs_checkpoints_and_curves(straight):
    rows = read_log(straight / LOSS_LOG)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    # The lr logged is the one each step ran at: warm-up over 2 steps, then constant.
    assert [r["lr"] for r in rows] == pytest.approx([5e-4] + [1e-3] * 5)
    val = read_log(straight / VAL_LOG)
    assert [r["step"] for r in val] == [6]
    assert checkpoint.load(straight / CHECKPOINT, "train")["format"] == "lassnet.train/2"
    model = checkpoint.load(straight / "model.pt", "model")
    assert model["step"] == 6 and "optimizer" not in model
    fig = plot_curves(straight)
    assert len(fig.axes) == 2  # the loss and, on a twin axis, the validation SI-SDRi
    assert [len(ax.lines[0].get_xdata()) for ax in fig.axes] == [6, 1]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["training loss (left axis)", "validation SI-SDRi (right axis)"]


def test_training_lowers_the_loss(tmp_path, encoder):
    """40 steps with the negative-SDR loss: the untrained network's output is far from the
    target (SDR below 0 dB); within a few dozen steps it learns at least to pass the target's
    share of the mixture through, so the loss falls by more than half a dB."""
    cfg = small_config(loss="neg_sdr", steps=40, warmup_steps=1, log_every=10,
                       checkpoint_every=40, validate_every=40)
    Trainer(cfg, tmp_path, encoder=encoder, progress=False).fit()
    losses = [r["loss"] for r in read_log(tmp_path / LOSS_LOG)]  # each a mean of 10 steps
    assert len(losses) == 4
    first, last = sum(losses[:2]) / 2, sum(losses[2:]) / 2
    assert last < first - 0.5, losses


def test_resume_is_exact(tmp_path, encoder, straight):
    Trainer(small_config(steps=3), tmp_path, encoder=encoder, progress=False).fit()
    assert torch.load(tmp_path / CHECKPOINT, weights_only=True)["step"] == 3
    resumed = Trainer(small_config(), tmp_path, encoder=encoder, progress=False)
    assert resumed.step == 3
    resumed.fit()
    assert_same_weights(weights(tmp_path), weights(straight))
    assert [r["step"] for r in read_log(tmp_path / LOSS_LOG)] == [1, 2, 3, 4, 5, 6]


def test_channels_last_is_the_same_training_and_resumes_exactly(tmp_path, encoder, straight):
    cl = small_config(channels_last=True)
    Trainer(small_config(steps=3, channels_last=True), tmp_path, encoder=encoder,
            progress=False).fit()
    resumed = Trainer(cl, tmp_path, encoder=encoder, progress=False)
    conv = resumed.model.encoders[0].blocks[0].conv1.weight  # 3x3: the layouts differ
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert not conv.is_contiguous()
    resumed.fit()
    # Same maths in another memory layout: the losses agree to float rounding. (The weights
    # do not, exactly: Adam divides by the gradient's own size, so parameters whose gradient
    # is only rounding noise, such as biases in front of a batch norm, move differently.)
    ours = [r["loss"] for r in read_log(tmp_path / LOSS_LOG)]
    reference = [r["loss"] for r in read_log(straight / LOSS_LOG)]
    torch.testing.assert_close(torch.tensor(ours), torch.tensor(reference), rtol=1e-4, atol=0)
    # The weights it saved give the same output in either layout.
    net = resumed.model.eval()
    x, c = torch.randn(2, 1, 4000) * 0.1, torch.randn(2, encoder.dim)
    with torch.no_grad():
        a = net(x, c)
        b = net.to(memory_format=torch.contiguous_format)(x, c)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # Resuming in channels_last is exact: same weights as a straight channels_last run.
    again = tmp_path / "again"
    Trainer(cl, again, encoder=encoder, progress=False).fit()
    assert_same_weights(weights(again), weights(tmp_path))


def test_ctrl_c_saves_and_resumes_exactly(tmp_path, encoder, straight, monkeypatch):
    trainer = Trainer(small_config(checkpoint_every=100), tmp_path, encoder=encoder,
                      progress=False)
    real_step = trainer.train_step

    def step_then_interrupt(batch):
        loss = real_step(batch)
        if trainer.step == 4:
            raise KeyboardInterrupt
        return loss

    monkeypatch.setattr(trainer, "train_step", step_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert torch.load(tmp_path / CHECKPOINT, weights_only=True)["step"] == 4
    Trainer(small_config(checkpoint_every=100), tmp_path, encoder=encoder,
            progress=False).fit()
    assert_same_weights(weights(tmp_path), weights(straight))


def test_real_ctrl_c_inside_a_step_waits_for_the_step_to_finish(tmp_path, encoder, straight):
    """SIGINT between the optimiser update and the step counter: the step completes, the
    checkpoint is consistent, and resuming gives the uninterrupted run's weights."""
    trainer = Trainer(small_config(checkpoint_every=100), tmp_path, encoder=encoder,
                      progress=False)
    real_optimizer_step = trainer.optimizer.step

    def optimizer_step_then_signal(*args, **kwargs):
        result = real_optimizer_step(*args, **kwargs)
        if trainer.step == 3:  # inside step 4: weights updated, the counter not yet
            os.kill(os.getpid(), signal.SIGINT)
        return result

    trainer.optimizer.step = optimizer_step_then_signal
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    assert torch.load(tmp_path / CHECKPOINT, weights_only=True)["step"] == 4
    Trainer(small_config(), tmp_path, encoder=encoder, progress=False).fit()
    assert_same_weights(weights(tmp_path), weights(straight))


def test_second_ctrl_c_abandons_the_step_and_keeps_the_last_checkpoint(tmp_path, encoder,
                                                                       straight):
    trainer = Trainer(small_config(checkpoint_every=2), tmp_path, encoder=encoder,
                      progress=False)
    real_optimizer_step = trainer.optimizer.step

    def optimizer_step_then_two_signals(*args, **kwargs):
        result = real_optimizer_step(*args, **kwargs)
        if trainer.step == 2:  # inside step 3
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return result

    trainer.optimizer.step = optimizer_step_then_two_signals
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert torch.load(tmp_path / CHECKPOINT, weights_only=True)["step"] == 2  # not the torn 3
    Trainer(small_config(), tmp_path, encoder=encoder, progress=False).fit()
    assert_same_weights(weights(tmp_path), weights(straight))


def test_cool_down_schedule_and_extending_a_finished_run(tmp_path, encoder):
    """warm-up, constant, cosine cool-down; a run trained to its end and then extended with
    a cool-down (the same command with more steps) equals the longer run trained straight."""
    cfg = small_config(steps=10, warmup_steps=2, decay_steps=4, min_lr=1e-5)
    factors = [cfg.lr_factor(s) for s in range(10)]
    assert factors[:2] == [0.5, 1.0] and factors[2:6] == [1.0] * 4
    assert all(a > b for a, b in zip(factors[5:], factors[6:], strict=False))
    assert factors[-1] == pytest.approx(1e-5 / cfg.lr)
    with pytest.raises(ValueError, match="decay_steps"):
        small_config(decay_steps=-1)
    short = small_config(steps=3, decay_steps=4, min_lr=0.0)  # a short run cools down throughout
    assert [short.lr_factor(s) for s in range(3)] == pytest.approx([0.375, 0.25, 0.0])
    straight = tmp_path / "straight"
    Trainer(small_config(steps=8, decay_steps=2, min_lr=1e-5), straight, encoder=encoder,
            progress=False).fit()
    extended = tmp_path / "extended"
    Trainer(small_config(steps=6), extended, encoder=encoder, progress=False).fit()
    Trainer(small_config(steps=8, decay_steps=2, min_lr=1e-5), extended, encoder=encoder,
            progress=False).fit()
    assert_same_weights(weights(extended), weights(straight))


def test_mismatched_and_corrupt_checkpoints(tmp_path, encoder, straight):
    run = tmp_path / "run"
    run.mkdir()
    (run / CHECKPOINT).write_bytes((straight / CHECKPOINT).read_bytes())
    with pytest.raises(CheckpointError, match="another model.*channels"):
        Trainer(small_config(separator=dict(SMALL, centre_channels=16)), run, encoder=encoder)
    with pytest.raises(CheckpointError, match="exists"):
        Trainer(small_config(), run, encoder=encoder, resume=False)
    newer = _stripped(run / CHECKPOINT)
    checkpoint.save(newer, run / CHECKPOINT, kind="train", version=3)
    with pytest.raises(CheckpointError, match="version-3 training checkpoint, newer"):
        Trainer(small_config(), run, encoder=encoder)
    (run / CHECKPOINT).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot read"):
        Trainer(small_config(), run, encoder=encoder)


def _stripped(path):
    """A checkpoint's entries without the stamps that lassnet.checkpoint.save adds."""
    raw = torch.load(path, weights_only=True)
    for key in ("format", "lassnet", "torch", "checksum"):
        del raw[key]
    return raw


def test_version_1_checkpoint_resumes_exactly(tmp_path, encoder, straight):
    """Version 1 of the training checkpoint held a LambdaLR's state (``scheduler``) and the
    optimiser's param groups carried its ``initial_lr``; such a file resumes, the schedule
    taken from the config, and ends with the weights of the straight run."""
    cfg = small_config()
    Trainer(small_config(steps=3), tmp_path, encoder=encoder, progress=False).fit()
    old = _stripped(tmp_path / CHECKPOINT)
    assert "scheduler" not in old  # version 2 stores nothing about the schedule
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.AdamW([param], lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: cfg.lr_factor(step))
    for _ in range(old["step"]):
        optimizer.step()
        scheduler.step()
    old["scheduler"] = scheduler.state_dict()
    for group in old["optimizer"]["param_groups"]:
        group["initial_lr"] = cfg.lr
    checkpoint.save(old, tmp_path / CHECKPOINT, kind="train", version=1)
    assert checkpoint.load(tmp_path / CHECKPOINT, "train")["format"] == "lassnet.train/1"

    resumed = Trainer(cfg, tmp_path, encoder=encoder, progress=False)
    assert resumed.step == 3
    assert resumed.optimizer.param_groups[0]["lr"] == cfg.lr * cfg.lr_factor(3)
    resumed.fit()
    assert checkpoint.load(tmp_path / CHECKPOINT, "train")["format"] == "lassnet.train/2"
    assert_same_weights(weights(tmp_path), weights(straight))


def _global_random_state():
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


def _assert_same_random_state(a, b):
    assert torch.equal(a[0], b[0]), "torch's global generator changed"
    assert np.array_equal(a[1], b[1]), "numpy's global generator changed"
    assert a[2] == b[2], "Python's random changed"


def test_trainer_leaves_the_global_random_state_alone(tmp_path, encoder):
    """Building, training and resuming draw from the run's own seeded streams: the caller's
    generators are as they were, and the run does not depend on them."""
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    before = _global_random_state()
    a = Trainer(small_config(steps=2), tmp_path / "a", encoder=encoder, progress=False)
    _assert_same_random_state(_global_random_state(), before)

    torch.manual_seed(456)  # another caller state: the same run
    b = Trainer(small_config(steps=2), tmp_path / "b", encoder=encoder, progress=False)
    assert_same_weights(a.model.state_dict(), b.model.state_dict())

    before = _global_random_state()
    a.fit()
    _assert_same_random_state(_global_random_state(), before)
    torch.manual_seed(789)
    b.fit()
    assert_same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))

    before = _global_random_state()
    resumed = Trainer(small_config(steps=3), tmp_path / "a", encoder=encoder, progress=False)
    assert resumed.step == 2
    _assert_same_random_state(_global_random_state(), before)


def test_fit_restores_the_thread_count_however_it_ends(tmp_path, encoder, monkeypatch):
    caller = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        trainer = Trainer(small_config(steps=2, threads=1), tmp_path, encoder=encoder,
                          progress=False)
        assert torch.get_num_threads() == 3  # building changes nothing
        seen = []
        real_step = trainer.train_step

        def spy(batch):
            seen.append(torch.get_num_threads())
            return real_step(batch)

        monkeypatch.setattr(trainer, "train_step", spy)
        trainer.fit()
        assert seen == [1, 1]  # the config's count while training
        assert torch.get_num_threads() == 3  # the caller's after it returns

        more = Trainer(small_config(steps=4, threads=1), tmp_path, encoder=encoder,
                       progress=False)
        before = _global_random_state()

        def fail(batch):
            assert torch.get_num_threads() == 1
            raise RuntimeError("a step failed")

        monkeypatch.setattr(more, "train_step", fail)
        with pytest.raises(RuntimeError, match="a step failed"):
            more.fit()
        assert torch.get_num_threads() == 3  # ... and after it raises
        _assert_same_random_state(_global_random_state(), before)
    finally:
        torch.set_num_threads(caller)


def test_snr_is_read_as_neg_sdr(tmp_path):
    """``loss: snr``, the earlier name of the negative-SDR loss, still reads: in a YAML file,
    in a checkpoint's train_config (the shipped model was trained with it) and on the
    command line."""
    from lassnet.cli import build_parser
    from lassnet.metrics import l1_wave_loss, neg_sdr_loss
    from lassnet.paths import shipped_model
    from lassnet.train import LOSSES

    assert LOSSES == {"l1": l1_wave_loss, "neg_sdr": neg_sdr_loss}
    assert load_config("tiny-cpu").loss == "neg_sdr"
    assert TrainConfig(loss="snr").loss == "neg_sdr"
    old = tmp_path / "old.yaml"
    old.write_text("preset: tiny\nloss: snr\n")
    assert load_config(old).loss == "neg_sdr"
    stored = torch.load(shipped_model(), weights_only=True)["train_config"]
    assert TrainConfig.from_dict(stored).loss == "neg_sdr"
    assert TrainConfig.from_dict(dict(stored, loss="snr")).to_dict()["loss"] == "neg_sdr"
    args = build_parser().parse_args(["train", "--loss", "snr"])
    assert load_config(args.config, loss=args.loss).loss == "neg_sdr"


def test_importing_lassnet_train_stays_light():
    """``lassnet info`` imports lassnet.train for the config names: that must not load the
    data stack (scipy) or matplotlib."""
    code = ("import sys, lassnet.train; "
            "print(sorted(m for m in ('lassnet.data', 'scipy', 'matplotlib', 'lassnet.plot') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_config_files_and_errors(tmp_path):
    cfg = load_config("tiny-cpu")
    assert cfg.preset == "tiny" and cfg.query == "minilm"
    assert load_config("audiosep").preset == "audiosep"
    assert load_config("tiny-cpu", steps=7).steps == 7
    with pytest.raises(ValueError, match="unknown config"):
        load_config("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("preset: tiny\nlearning_rate: 3\n")
    with pytest.raises(ValueError, match="learning_rate"):
        load_config(bad)
    with pytest.raises(ValueError, match=r"unknown loss 'mse'; choose from \['l1', 'neg_sdr'\]"):
        TrainConfig(loss="mse")
    with pytest.raises(ValueError, match=r"unknown precision 'fp8'; choose from "
                       r"\['auto', 'float32', 'bfloat16', 'float16'\]"):
        TrainConfig(precision="fp8")
    with pytest.raises(ValueError, match=r"need 1 <= min_interferers \(3\) <= "
                       r"max_interferers \(2\)"):
        TrainConfig(min_interferers=3, max_interferers=2)
    with pytest.raises(ValueError, match="threads must be >= 1.*got 0"):
        TrainConfig(threads=0)
    with pytest.raises(ValueError, match="float16 training needs a GPU"):
        Trainer(small_config(precision="float16"), tmp_path / "x", device="cpu",
                encoder=query.build("label", classes=["a", "b"]))


def _cli_train(out, extra_env=None, launcher=None, config_path=None):
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(extra_env or {}))
    cmd = (launcher or [sys.executable, "-m", "lassnet.cli"]) + [
        "train", "--config", str(config_path), "--out", str(out), "--device", "cpu"]
    return cmd, env


def _write_config(path, **kw):
    import yaml

    cfg = small_config(**kw).to_dict()
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_killed_process_loses_only_steps_since_checkpoint(tmp_path, straight):
    """SIGKILL mid-run, then run the same command again: same final weights."""
    config = _write_config(tmp_path / "small.yaml", checkpoint_every=1)
    out = tmp_path / "run"
    cmd, env = _cli_train(out, config_path=config)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / CHECKPOINT).exists() and torch.load(out / CHECKPOINT, weights_only=True)[
                "step"] >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = torch.load(out / CHECKPOINT, weights_only=True)["step"]
    assert 2 <= step <= 6
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_weights(weights(out), weights(straight))


def test_distributed_two_processes_gloo(tmp_path):
    """torchrun with 2 CPU processes (gloo): both ranks step, rank 0 writes."""
    config = _write_config(tmp_path / "small.yaml", steps=4, checkpoint_every=2,
                           validate_every=4)
    out = tmp_path / "ddp"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2", "-m", "lassnet.cli"]
    cmd, env = _cli_train(out, launcher=launcher, config_path=config,
                          extra_env={"OMP_NUM_THREADS": "1"})
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    payload = torch.load(out / CHECKPOINT, weights_only=True)
    assert payload["step"] == 4
    assert [r["step"] for r in read_log(out / LOSS_LOG)] == [1, 2, 3, 4]  # one writer
    assert all(torch.isfinite(v).all() for v in payload["state_dict"].values()
               if v.is_floating_point())


# --- AudioSep's recipe: its staircase warm-up, its batch mixer, its hybrid query ---------

def constant_warm_up(step: int, warm_up_steps: int) -> float:
    """AudioSep's ``optimizers/lr_schedulers.py`` schedule, written out from its definition:
    ×0.001 below ``warm_up_steps``, ×0.01 below twice that, ×0.1 below three times, then 1."""
    for stair, scale in enumerate((0.001, 0.01, 0.1)):
        if step < (stair + 1) * warm_up_steps:
            return scale
    return 1.0


def test_staircase_warm_up_is_audiosep_constant_warm_up():
    cfg = small_config(steps=40, warmup="staircase", warmup_steps=5)
    assert [cfg.lr_factor(s) for s in range(40)] == [constant_warm_up(s, 5) for s in range(40)]
    assert [cfg.lr_factor(s) for s in (0, 4, 5, 9, 10, 14, 15, 39)] == \
        [0.001, 0.001, 0.01, 0.01, 0.1, 0.1, 1.0, 1.0]
    assert small_config(warmup="staircase", warmup_steps=0).lr_factor(0) == 1.0
    with pytest.raises(ValueError, match=r"unknown warmup 'cosine'; choose from "
                       r"\['linear', 'staircase'\]"):
        small_config(warmup="cosine")


def test_audiosep_config_is_audiosep_base_yaml():
    """lassnet's ``audiosep`` config against the values of AudioSep's released
    ``config/audiosep_base.yaml`` and ``models/audiosep.py`` (written out here)."""
    from lassnet.separator import PRESETS

    audiosep_base = {  # key in AudioSep -> value there
        "data.sampling_rate": 32000, "data.segment_seconds": 5,
        "data.loudness_norm.lower_db": -10, "data.loudness_norm.higher_db": 10,
        "data.max_mix_num": 2, "model.query_net": "CLAP",
        "model.model_type": "ResUNet30", "model.use_text_ratio": 1.0,
        "train.optimizer.learning_rate": 1e-3, "train.optimizer.warm_up_steps": 10000,
        "train.optimizer.lr_lambda_type": "constant_warm_up", "train.num_workers": 6,
        "train.loss_type": "l1_wav", "train.batch_size_per_device": 12,
        "train.evaluate_step_frequency": 10000, "train.save_step_frequency": 20000,
        "train.random_seed": 1234, "configure_optimizers.weight_decay": 0.0,
        "configure_optimizers.amsgrad": True, "trainer.precision": "32-true",
    }
    cfg = load_config("audiosep")
    ours = {
        "data.sampling_rate": PRESETS[cfg.preset]["sample_rate"],
        "data.segment_seconds": cfg.duration,
        "data.loudness_norm.lower_db": cfg.gain_db[0],
        "data.loudness_norm.higher_db": cfg.gain_db[1],
        "data.max_mix_num": cfg.max_mix_num if cfg.mixing == "audiosep" else None,
        "model.query_net": cfg.query.upper(),  # (its condition_size, 512, is CLAP's width)
        "model.model_type": "ResUNet30" if cfg.preset == "audiosep" else cfg.preset,
        "model.use_text_ratio": cfg.use_text_ratio,
        "train.optimizer.learning_rate": cfg.lr, "train.optimizer.warm_up_steps":
            cfg.warmup_steps,
        "train.optimizer.lr_lambda_type": {"staircase": "constant_warm_up"}.get(cfg.warmup),
        "train.num_workers": cfg.num_workers, "train.loss_type": cfg.loss + "_wav",
        "train.batch_size_per_device": cfg.batch_size,
        "train.evaluate_step_frequency": cfg.validate_every,
        "train.save_step_frequency": cfg.checkpoint_every, "train.random_seed": cfg.seed,
        "configure_optimizers.weight_decay": cfg.weight_decay,
        "configure_optimizers.amsgrad": cfg.amsgrad,
        "trainer.precision": {"float32": "32-true"}.get(cfg.precision),
    }
    assert ours == audiosep_base
    assert cfg.audio_query == "target" and cfg.decay_steps == 0
    # the offline variant differs in the query encoder (and its options) only
    offline = load_config("audiosep-minilm")
    assert offline.query == "minilm" and offline.query_options == {}
    differ = {k for k, v in cfg.to_dict().items() if offline.to_dict()[k] != v}
    assert differ == {"name", "query", "query_options"}


def test_audiosep_mixing_trains_on_batches_of_audiosep_mixer(tmp_path, encoder):
    """``mixing: audiosep``: the training loader's batch is AudioSep's mixer applied to the
    dataset's segments (seeded by the batch index); a few steps train and resume exactly."""
    from lassnet.data import AudioSepMixer
    from lassnet.train.data import build_dataset, training_loader

    cfg = small_config(mixing="audiosep", batch_size=3, steps=4, checkpoint_every=2,
                       validate_every=4)
    loader = training_loader(cfg, 16000, start=0)
    batches = list(loader)
    assert len(batches) == 4
    segments = build_dataset(cfg, 16000, "train", 12, seed=cfg.seed)
    mixer = AudioSepMixer(2, -10, 10)
    for b in (0, 3):
        items = [segments[i] for i in range(3 * b, 3 * b + 3)]
        expect = mixer.collate(items, b)
        assert torch.equal(batches[b]["mixture"], expect["mixture"])
        assert torch.equal(batches[b]["target"], expect["target"])
        assert batches[b]["caption"] == expect["caption"]
        # each target is its segment, scaled down only where the mixture would clip (AudioSep
        # rescales both to a peak of 0.9); the mixture adds the next segment
        for target, item, mixture in zip(batches[b]["target"], items, batches[b]["mixture"],
                                         strict=True):
            scale = (target * item["segment"]).sum() / item["segment"].square().sum()
            assert 0 < scale <= 1 and torch.allclose(target, scale * item["segment"], atol=1e-6)
            assert scale == 1 or mixture.abs().max() == pytest.approx(0.9)
        assert not torch.equal(batches[b]["mixture"], batches[b]["target"])
    straight = tmp_path / "straight"
    Trainer(cfg, straight, encoder=encoder, progress=False).fit()
    stopped = tmp_path / "stopped"
    Trainer(dataclasses_replace(cfg, steps=2), stopped, encoder=encoder, progress=False).fit()
    Trainer(cfg, stopped, encoder=encoder, progress=False).fit()
    assert_same_weights(weights(stopped), weights(straight))
    with pytest.raises(ValueError, match="whole numbers of dB"):
        small_config(mixing="audiosep", gain_db=(-10.5, 10))
    with pytest.raises(ValueError, match="max_mix_num must be at least 2"):
        small_config(mixing="audiosep", max_mix_num=1)
    with pytest.raises(ValueError, match="set audio_query: target"):
        small_config(mixing="audiosep", use_text_ratio=0.5)


def dataclasses_replace(cfg, **kw):
    import dataclasses

    return dataclasses.replace(cfg, **kw)


def test_hybrid_query_is_the_target_itself(tmp_path):
    """``audio_query: target`` with ``use_text_ratio: 0``: every condition is the audio
    embedding of the example's own target (AudioSep's hybrid mode); with ``1`` the text's."""
    from lassnet.testing import LetterEncoder
    from lassnet.train.data import training_loader

    enc = LetterEncoder(dim=8, audio=True)
    for mixing in ("lassnet", "audiosep"):
        cfg = small_config(mixing=mixing, use_text_ratio=0.0, audio_query="target", steps=1)
        trainer = Trainer(cfg, tmp_path / mixing, encoder=enc, progress=False)
        batch = next(iter(training_loader(cfg, trainer.sample_rate, start=0)))
        cond = trainer._conditions(batch, step=0)
        expect = enc.embed_audio(batch["target"][:, 0], trainer.sample_rate)
        assert torch.allclose(cond, expect)
        assert not torch.allclose(cond, enc.embed_text(batch["caption"]))
        text_only = Trainer(dataclasses_replace(cfg, use_text_ratio=1.0), tmp_path / "t",
                            encoder=enc, progress=False)
        assert torch.allclose(text_only._conditions(batch, step=0),
                              enc.embed_text(batch["caption"]))


def test_init_from_fine_tunes_from_a_model_file_or_an_audiosep_checkpoint(tmp_path, encoder):
    """``init_from``: a fresh run starts from another run's weights (a lassnet model file) or
    from AudioSep's released separator (a Lightning ``.ckpt``, converted); a file of another
    network is refused in one line; a resumed run takes its own checkpoint."""
    from lassnet.testing import LetterEncoder, audiosep_state_dict

    first = Trainer(small_config(steps=2, checkpoint_every=2, validate_every=2), tmp_path / "a",
                    encoder=encoder, progress=False)
    first.fit()
    trained = {k: v.clone() for k, v in first.model.state_dict().items()}
    tuned = Trainer(small_config(init_from=str(tmp_path / "a" / "model.pt"), steps=4),
                    tmp_path / "b", encoder=encoder, progress=False)
    for key, value in tuned.model.state_dict().items():
        assert torch.equal(value, trained[key]), key
    tuned.fit()
    assert not torch.equal(tuned.model.state_dict()["pre_conv.weight"], trained["pre_conv.weight"])
    # resumed: its own checkpoint, not init_from's weights
    again = Trainer(small_config(init_from=str(tmp_path / "a" / "model.pt"), steps=4),
                    tmp_path / "b", encoder=encoder, progress=False)
    assert again.step == 4 and torch.equal(again.model.state_dict()["pre_conv.weight"],
                                           tuned.model.state_dict()["pre_conv.weight"])
    again._release_folder()

    with pytest.raises(CheckpointError, match="init_from"):  # another width
        Trainer(small_config(init_from=str(tmp_path / "a" / "model.pt"), separator={}),
                tmp_path / "c", encoder=encoder, progress=False)
    with pytest.raises(CheckpointError, match="is not a file"):
        Trainer(small_config(init_from=str(tmp_path / "nope.pt")), tmp_path / "d",
                encoder=encoder, progress=False)

    ckpt = tmp_path / "audiosep.ckpt"
    released = audiosep_state_dict(seed=1)
    torch.save({"state_dict": released}, ckpt)
    big = Trainer(small_config(preset="audiosep", separator={}, init_from=str(ckpt)),
                  tmp_path / "e", encoder=LetterEncoder(dim=512), progress=False)
    key = "ss_model.base.pre_conv.weight"
    if key not in released:
        key = "base.pre_conv.weight"
    assert torch.equal(big.model.state_dict()["pre_conv.weight"], released[key])
    big._release_folder()

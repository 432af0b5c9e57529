"""Weight averaging (``ema_decay``): the average follows its formula, ``model.pt`` holds it,
validation scores it, and resuming continues it exactly."""

from pathlib import Path

import pytest
import torch

from lassnet import query
from lassnet.checkpoint import CheckpointError
from lassnet.model import LASSModel
from lassnet.testing import TINY_SEPARATOR as SMALL
from lassnet.train import TrainConfig, Trainer
from lassnet.train.state import CHECKPOINT, MODEL, WeightAverage

ENCODER = query.build("minilm")


def config(**kw) -> TrainConfig:
    base = dict(name="small-ema", preset="tiny", separator=SMALL, duration=0.5, batch_size=2,
                steps=4, warmup_steps=1, log_every=1, checkpoint_every=2, validate_every=4,
                val_size=2, seed=5, threads=1, loss="neg_sdr", ema_decay=0.6)
    return TrainConfig(**(base | kw))


def saved(path: Path, key: str):
    return torch.load(path, weights_only=True)[key]


def test_the_average_follows_its_formula():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    avg = WeightAverage(net, decay=0.9)
    expected = {k: v.detach().clone() for k, v in net.state_dict().items()}
    for n in range(1, 6):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net.train()(torch.randn(4, 3))  # moves the running statistics too
        avg.update(net)
        d = min(0.9, (1 + n) / (10 + n))
        for k, v in net.state_dict().items():
            expected[k] = d * expected[k] + (1 - d) * v if v.is_floating_point() else v.clone()
    assert avg.updates == 5
    for k, v in expected.items():
        torch.testing.assert_close(avg.state[k], v, rtol=1e-6, atol=1e-6)
    assert avg.state["1.num_batches_tracked"] == 5
    assert [round(avg.factor(n), 3) for n in (1, 2, 50, 100)] == [0.182, 0.25, 0.85, 0.9]
    with pytest.raises(ValueError, match="decay must be in"):
        WeightAverage(net, 1.0)


def test_the_config_refuses_a_decay_outside_0_1():
    with pytest.raises(ValueError, match="ema_decay must be in"):
        config(ema_decay=1.0)
    assert config(ema_decay=0.0).ema_decay == 0.0


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("ema-straight")
    trainer = Trainer(config(), out, progress=False, encoder=ENCODER)
    trainer.fit()
    return out, trainer


def test_model_file_holds_the_average_and_checkpoint_both(straight):
    out, trainer = straight
    raw = saved(out / CHECKPOINT, "state_dict")
    ema = saved(out / CHECKPOINT, "ema_state")
    assert saved(out / CHECKPOINT, "ema_updates") == 4
    model_file = saved(out / MODEL, "state_dict")
    for k in ema:
        assert torch.equal(model_file[k], ema[k])
    weights = [k for k in raw if k.endswith("weight")]
    assert any(not torch.equal(raw[k], ema[k]) for k in weights), "average = last weights"
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(raw[k], v)
    loaded = LASSModel.load(out / MODEL, encoder=ENCODER)
    for k, v in loaded.separator.state_dict().items():
        torch.testing.assert_close(v, ema[k].to(v.dtype))


def test_validation_scores_the_average(straight):
    out, trainer = straight
    scored = trainer.validate()
    plain = Trainer.__new__(Trainer)  # the same trainer with its average switched off
    plain.__dict__.update(trainer.__dict__, average=None)
    assert scored != plain.validate()
    swapped = Trainer.__new__(Trainer)  # ... or with the average as its weights
    swapped.__dict__.update(trainer.__dict__, average=None)
    swapped.model = trainer.average.copy_to(type(trainer.model)(trainer.model.config))
    assert swapped.validate() == pytest.approx(scored, abs=1e-5)


def test_resume_continues_the_average_exactly(straight, tmp_path):
    out, _ = straight
    first = Trainer(config(steps=2), tmp_path, progress=False, encoder=ENCODER)
    first.fit()
    again = Trainer(config(), tmp_path, progress=False, encoder=ENCODER)
    assert again.average.updates == 2
    again.fit()
    a, b = saved(out / CHECKPOINT, "ema_state"), saved(tmp_path / CHECKPOINT, "ema_state")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_another_averaging_is_refused(tmp_path):
    Trainer(config(steps=2), tmp_path, progress=False, encoder=ENCODER).fit()
    refused = "with weight averaging, and this run's ema_decay is 0"
    with pytest.raises(CheckpointError, match=refused):
        Trainer(config(ema_decay=0.0), tmp_path, progress=False, encoder=ENCODER)

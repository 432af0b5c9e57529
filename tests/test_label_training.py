"""Training the ``label`` ablation (chapter 4): a trainable query encoder learns with the
separator, is checkpointed and resumed exactly, and its table travels in the model file."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from lassnet import checkpoint, query
from lassnet.checkpoint import CheckpointError
from lassnet.model import LASSModel
from lassnet.query.label import LabelEncoder
from lassnet.separator import SeparationNet
from lassnet.testing import TINY_SEPARATOR as SMALL
from lassnet.train import TrainConfig, Trainer
from lassnet.train.state import CHECKPOINT, MODEL, checkpoint_bytes

ROOT = Path(__file__).resolve().parents[1]


def label_config(**kw) -> TrainConfig:
    base = dict(name="small-label", preset="tiny", separator=SMALL, duration=0.5,
                batch_size=2, steps=6, warmup_steps=2, log_every=1, checkpoint_every=3,
                validate_every=6, val_size=2, seed=3, threads=1, query="label",
                query_options={"dim": 16})
    return TrainConfig(**(base | kw))


def saved(run_dir, key):
    return torch.load(Path(run_dir) / CHECKPOINT, weights_only=True)[key]


def assert_same(a, b):
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:3]}"


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """Six uninterrupted steps of the label ablation, and the table it started from."""
    out = tmp_path_factory.mktemp("label-straight")
    trainer = Trainer(label_config(), out, progress=False)
    start = trainer.encoder.table.weight.detach().clone()  # (14, 16)
    trainer.fit()
    return out, trainer, start


def test_the_table_is_trained_with_the_separator(straight):
    out, trainer, start = straight
    table = trainer.encoder.table.weight
    assert [len(g["params"]) for g in trainer.optimizer.param_groups][1:] == [1]
    assert trainer.optimizer.param_groups[1]["params"][0] is table
    # the learning rate of both groups follows the one schedule
    assert {g["lr"] for g in trainer.optimizer.param_groups} == {
        trainer.cfg.lr * trainer.cfg.lr_factor(5)}
    moved = (table.detach() - start).norm(dim=1)  # (14,) per class
    assert moved.max() > 0, "the label table did not move"
    # AdamW's decoupled weight decay shrinks every row, even classes no batch asked for:
    # after s steps at learning rates lr_i, an unseen row is start * prod(1 - lr_i * wd).
    cfg = trainer.cfg
    shrink = torch.tensor(1.0, dtype=torch.float32)
    for s in range(cfg.steps):
        shrink = shrink * (1 - cfg.lr * cfg.lr_factor(s) * cfg.weight_decay)
    asked = {trainer.encoder.lookup[c] for c in _captions_seen(trainer)}
    for row in set(range(len(trainer.encoder.classes))) - asked:
        torch.testing.assert_close(table[row].detach(), start[row] * shrink)
    for row in asked:  # and the classes that were asked for moved by their gradients
        assert not torch.allclose(table[row].detach(), start[row] * shrink)
    assert trainer.encoder.cache_info().size == 0  # a trainable encoder is never cached


def _captions_seen(trainer):
    """The captions of the six training steps (the batches are a function of the step)."""
    from lassnet.train.data import training_loader

    loader = training_loader(trainer.cfg, trainer.sample_rate, 0, 0, 1, device="cpu",
                             progress=False)
    seen = []
    for i, batch in enumerate(loader):
        if i == trainer.cfg.steps:
            break
        seen += batch["caption"]
    return seen


def test_conditions_carry_gradients_to_the_table(tmp_path):
    trainer = Trainer(label_config(), tmp_path, progress=False)
    cond = trainer._conditions({"caption": ["siren", "heavy rain"]}, 0)  # (2, 16)
    assert cond.requires_grad
    cond.sum().backward()
    grad = trainer.encoder.table.weight.grad  # (14, 16)
    rows = {trainer.encoder.lookup["siren"], trainer.encoder.lookup["heavy rain"]}
    assert set(grad.abs().sum(1).nonzero().flatten().tolist()) == rows


def test_gradient_clipping_includes_the_table(tmp_path, monkeypatch):
    clipped = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *a, **kw):
        params = list(params)
        clipped.append(params)
        return real(params, max_norm, *a, **kw)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    trainer = Trainer(label_config(steps=1, grad_clip=1e-6), tmp_path, progress=False)
    trainer.fit()
    assert any(p is trainer.encoder.table.weight for p in clipped[0])
    assert len(clipped[0]) == len(list(trainer.model.parameters())) + 1


def test_resume_is_exact_for_the_label_table(tmp_path, straight):
    out, _, _ = straight
    Trainer(label_config(steps=3), tmp_path, progress=False).fit()
    resumed = Trainer(label_config(), tmp_path, progress=False)
    assert resumed.step == 3
    # the table came back from the checkpoint, not from its seeded start
    assert torch.equal(resumed.encoder.table.weight.detach(),
                       saved(tmp_path, "query_state")["table.weight"])
    resumed.fit()
    assert_same(saved(tmp_path, "state_dict"), saved(out, "state_dict"))
    assert_same(saved(tmp_path, "query_state"), saved(out, "query_state"))


def test_a_frozen_run_does_not_resume_with_a_trainable_encoder(tmp_path):
    Trainer(label_config(steps=3, query="minilm", query_options={}), tmp_path,
            progress=False).fit()
    with pytest.raises(CheckpointError, match="frozen query encoder.*trainable"):
        Trainer(label_config(query="minilm", query_options={}), tmp_path, progress=False,
                encoder=query.build("label", dim=384))


def test_model_file_keeps_the_trained_table(straight, tmp_path):
    out, trainer, start = straight
    texts = ["siren", "heavy rain", "bell"]
    trained = trainer.encoder.eval().embed_text(texts).detach()  # (3, 16)
    model = LASSModel.load(out / MODEL)  # the run's model.pt
    assert torch.equal(model.encoder.embed_text(texts), trained)
    assert not torch.equal(model.encoder.table.weight, start)
    # LASSModel.save / load round-trips it, checksummed like the rest of the file
    model.save(tmp_path / "label.pt")
    contents = checkpoint.load(tmp_path / "label.pt", "model")
    assert torch.equal(contents["query_state"]["table.weight"], trainer.encoder.table.weight)
    again = LASSModel.load(tmp_path / "label.pt")
    assert torch.equal(again.encoder.embed_text(texts), trained)
    # a given (freshly seeded) label encoder gets the trained table too
    given = LASSModel.load(tmp_path / "label.pt", encoder=query.build("label", dim=16))
    assert torch.equal(given.encoder.embed_text(texts), trained)
    # saving a loaded model whose encoder was never built keeps the table as well
    LASSModel.load(tmp_path / "label.pt").save(tmp_path / "copy.pt")
    assert torch.equal(LASSModel.load(tmp_path / "copy.pt").encoder.embed_text(texts), trained)


def test_model_file_table_errors(straight, tmp_path):
    out, _, _ = straight
    with pytest.raises(CheckpointError, match="frozen; load it without encoder="):
        LASSModel.load(out / MODEL, encoder=_FrozenLabel())
    contents = checkpoint.load(out / MODEL, "model")
    contents["query_state"] = {"table.weight": torch.zeros(3, 16)}
    for key in ("format", "lassnet", "torch", "checksum"):
        contents.pop(key)
    checkpoint.save(contents, tmp_path / "wrong.pt", kind="model")
    with pytest.raises(CheckpointError, match="query encoder.*shape mismatch"):
        LASSModel.load(tmp_path / "wrong.pt").encoder  # noqa: B018 - built on first use


class _FrozenLabel(LabelEncoder):
    trainable = False

    def __init__(self):
        super().__init__(dim=16)


def test_files_without_a_table_still_load(straight, tmp_path):
    """A label model written before the table was kept rebuilds the seeded start."""
    out, _, start = straight
    contents = checkpoint.load(out / MODEL, "model")
    for key in ("query_state", "format", "lassnet", "torch", "checksum"):
        contents.pop(key)
    checkpoint.save(contents, tmp_path / "old.pt", kind="model")
    old = LASSModel.load(tmp_path / "old.pt")
    assert torch.equal(old.encoder.table.weight, start)


def test_a_frozen_encoders_model_file_does_not_grow(tmp_path):
    encoder = query.build("minilm")
    net = SeparationNet.from_preset("tiny", condition_dim=encoder.dim, **SMALL).eval()
    LASSModel(net, encoder).save(tmp_path / "built.pt")
    LASSModel(net, None, "minilm").save(tmp_path / "lazy.pt")
    old_format = {"config": net.config.to_dict(), "state_dict": net.state_dict(),
                  "query": {"name": "minilm", "options": {}}}
    checkpoint.save(old_format, tmp_path / "old.pt", kind="model")
    size = (tmp_path / "old.pt").stat().st_size
    assert (tmp_path / "built.pt").stat().st_size == size
    assert (tmp_path / "lazy.pt").stat().st_size == size
    assert "query_state" not in checkpoint.load(tmp_path / "built.pt", "model")


def test_checkpoint_size_estimate_counts_the_table(tmp_path):
    trainer = Trainer(label_config(query_options={"dim": 384}), tmp_path, progress=False)
    frozen = torch.optim.AdamW(trainer.model.parameters(), amsgrad=trainer.cfg.amsgrad)
    table = 14 * 384 * 4  # float32 bytes
    states = 3 if trainer.cfg.amsgrad else 2  # Adam's per-parameter tensors
    assert (checkpoint_bytes(trainer.model, trainer.optimizer)
            == checkpoint_bytes(trainer.model, frozen) + (1 + states) * table)


def test_ablate_results_document(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when run as a script
    spec = importlib.util.spec_from_file_location("ablate", ROOT / "benchmarks" / "ablate.py")
    ablate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ablate)
    args = ablate.argparse.Namespace(config="tiny-cpu", steps=800, parallel=2)
    variants = [("minilm", {"query": "minilm"}), ("label", {"query": "label"})]
    results = [("minilm", {"mean": 6.0}), ("label", {"mean": 5.0})]
    doc = json.loads(json.dumps(ablate.results_document(args, variants, results)))
    assert doc["steps"] == 800 and doc["config"] == "tiny-cpu"
    assert [(v["name"], v["overrides"], v["mean"]) for v in doc["variants"]] == [
        ("minilm", {"query": "minilm"}, 6.0), ("label", {"query": "label"}, 5.0)]
    assert doc["machine"]["torch"] == str(torch.__version__)
    assert doc["machine"]["cpu"]


def test_ablate_paired_difference(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("ablate", ROOT / "benchmarks" / "ablate.py")
    ablate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ablate)
    a = [1.0, 5.0, -3.0, 2.0, 0.5, 8.0]
    assert ablate.paired(a, a) == (0.0, 0.0, 0.0)
    mean, low, high = ablate.paired(a, [x + 1.5 for x in a])
    assert (mean, low, high) == pytest.approx((1.5, 1.5, 1.5))
    mean, low, high = ablate.paired(a, [x + d for x, d in zip(a, [0, 2, 0, 2, 0, 2], strict=True)])
    assert mean == pytest.approx(1.0) and 0.0 <= low < 1.0 < high <= 2.0

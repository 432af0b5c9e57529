"""The converter against a functional re-statement of AudioSep's ResUNet30 forward.

The reference (:func:`lassnet.testing.audiosep_reference_forward`) reads tensors straight from
a state dict in AudioSep's key layout (``ss_model.base.*``, ``ss_model.film.<path>->beta<k>.*``)
and uses torchlibrosa's STFT/ISTFT, the transform AudioSep's code uses; it shares no code with
lassnet's modules.
"""

import pytest
import torch
import torch.nn.functional as F

from lassnet.audiosep import load_audiosep
from lassnet.checkpoint import CheckpointError
from lassnet.testing import audiosep_reference_forward, audiosep_state_dict

torchlibrosa = pytest.importorskip("torchlibrosa.stft")

COND = 512  # AudioSep's CLAP embedding width


@pytest.fixture(scope="module")
def converted():
    sd = audiosep_state_dict()
    net, report = load_audiosep({"state_dict": sd})
    return sd, net.eval(), report


def test_matches_audiosep_forward(converted):
    sd, net, _ = converted
    torch.manual_seed(0)
    mixture = 0.1 * torch.randn(2, 1, 64 * 320)  # whole hops, as AudioSep's 5 s segments
    condition = F.normalize(torch.randn(2, COND), dim=1)
    with torch.no_grad():
        ref = audiosep_reference_forward(sd, mixture, condition)
        ours = net(mixture, condition)
    assert ref.shape == ours.shape == mixture.shape
    assert ref.abs().max() > 1e-3  # the comparison is not between two silences
    err = ((ours - ref).norm() / ref.norm()).item()
    assert err < 1e-4, err


def test_matches_audiosep_at_any_length(converted):
    sd, net, _ = converted
    torch.manual_seed(1)
    mixture = 0.1 * torch.randn(1, 1, 20000)  # 62.5 hops
    condition = F.normalize(torch.randn(1, COND), dim=1)
    with torch.no_grad():
        ref = audiosep_reference_forward(sd, mixture, condition)
        ours = net(mixture, condition)
    assert ((ours - ref).norm() / ref.norm()).item() < 1e-4


def test_report_lists_dropped_tensors(converted):
    sd, net, report = converted
    dropped = set(report.dropped)
    assert {k for k in sd if ".stft." in k or ".istft." in k} <= dropped
    assert {f"ss_model.base.decoder_block{i}.bn2.weight" for i in range(1, 7)} <= dropped
    assert {f"ss_model.film.decoder_block{i}->beta2.weight" for i in range(1, 7)} <= dropped
    assert "query_encoder.model.logit_scale_a" in dropped
    assert report.missing == []
    # Everything else was used: the dropped STFT matrices hold 12.6 M numbers, the unused
    # decoder BN/FiLM layers 0.82 M.
    stft_numbers = sum(sd[k].numel() for k in dropped if "stft." in k and "window" not in k)
    unused = sum(sd[k].numel() for k in dropped
                 if ("bn2" in k and "decoder_block" in k and "conv_block2" not in k
                     and "running" not in k and "num_batches" not in k)
                 or "->beta2" in k and "conv_block2" not in k)
    assert round(stft_numbers / 1e6, 1) == 12.6
    assert round(unused / 1e6, 2) == 0.82
    # Every parameter of the net comes from a tensor AudioSep's forward pass uses: the
    # count is derived from the checkpoint, not pinned.
    used = [k for k in sd if k not in dropped
            and not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert net.num_parameters() == sum(sd[k].numel() for k in used) == 25_623_941
    assert "dropped" in report.summary()


def test_checkpoint_file_without_prefix(tmp_path):
    sd = {k[len("ss_model."):]: v for k, v in audiosep_state_dict(seed=1).items()
          if k.startswith("ss_model.")}
    path = tmp_path / "audiosep.ckpt"
    torch.save({"state_dict": sd, "epoch": 3}, path)
    net, _ = load_audiosep(path)
    torch.testing.assert_close(net.pre_conv.weight, sd["base.pre_conv.weight"])


def test_missing_tensor_is_an_error():
    sd = audiosep_state_dict()
    del sd["ss_model.base.encoder_block3.conv_block1.conv2.weight"]
    with pytest.raises(CheckpointError, match="lacks 1 tensors"):
        load_audiosep(sd)
    with pytest.raises(CheckpointError, match="no AudioSep separator weights"):
        load_audiosep({"model.weight": torch.zeros(1)})


def test_unknown_tensor_is_a_clear_error():
    sd = audiosep_state_dict()
    sd["ss_model.base.encoder_block9.conv_block1.conv1.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="unexpected tensor.*encoder_block9.*ResUNet30"):
        load_audiosep(sd)
    sd = audiosep_state_dict()
    sd["ss_model.film.encoder_block1->conv_block1->gamma1.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="unexpected tensor.*gamma1"):
        load_audiosep(sd)

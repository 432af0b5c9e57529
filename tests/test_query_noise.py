"""Query-embedding noise (``query_noise``): each training embedding moved to a random point at
the cosine the formula gives, the same length, the same draw for the same step."""

import math

import pytest
import torch

from lassnet.train import TrainConfig, Trainer


def trainer_with(sigma: float, seed: int = 0) -> Trainer:
    t = Trainer.__new__(Trainer)  # only the config is needed to add the noise
    t.cfg = TrainConfig(query_noise=sigma, seed=seed)
    return t


@pytest.mark.parametrize("sigma", [0.5, 1.0])
def test_noise_keeps_length_and_lands_at_the_expected_cosine(sigma):
    e = torch.nn.functional.normalize(torch.randn(4000, 384, generator=torch.Generator()
                                                  .manual_seed(1)), dim=-1) * 2.0
    moved = trainer_with(sigma)._noisy(e, step=3)
    torch.testing.assert_close(moved.norm(dim=-1), e.norm(dim=-1))
    cos = torch.nn.functional.cosine_similarity(moved, e, dim=-1)
    assert float(cos.mean()) == pytest.approx(1 / math.sqrt(1 + sigma**2), abs=0.01)


def test_the_draw_is_a_function_of_seed_and_step():
    e = torch.nn.functional.normalize(torch.randn(8, 384), dim=-1)
    t = trainer_with(1.0)
    assert torch.equal(t._noisy(e, 5), t._noisy(e, 5))  # a resumed run draws the same
    assert not torch.equal(t._noisy(e, 5), t._noisy(e, 6))
    assert not torch.equal(t._noisy(e, 5), trainer_with(1.0, seed=1)._noisy(e, 5))


def test_the_config_checks_the_noise():
    with pytest.raises(ValueError, match="query_noise must be in"):
        TrainConfig(query_noise=-1.0)

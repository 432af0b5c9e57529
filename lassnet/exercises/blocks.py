"""The exercise of chapter 2 (Encoder and decoder blocks): ``residual_forward``.

The student computes a :class:`lassnet.blocks.ResidualBlock`'s output from its layers;
:func:`check_residual_block` compares it with the block itself (identity and 1×1-conv
shortcuts, odd sizes, a batch of one, another LeakyReLU slope, training mode) and recognises a
missing shortcut, a ReLU, a hard-coded slope, post-activation order and an activation after the
sum. Calling the block itself is refused: ``block(x)``, ``type(block).forward(block, x)``, a new
block, or an encoder or decoder block (which run residual blocks) while the student's function
runs. Taught in chapter 2 (Encoder and decoder blocks).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ._runner import CheckResult, Exercise, Withhold, _call, _compare, _Mismatch, _run


def _randomise_batch_norm(bn: nn.BatchNorm2d) -> None:
    """Give a batch norm non-trivial statistics and affine parameters."""
    with torch.no_grad():
        n = bn.num_features
        bn.running_mean.copy_(0.5 * torch.randn(n))
        bn.running_var.copy_(0.5 + torch.rand(n))
        bn.weight.copy_(1.0 + 0.3 * torch.randn(n))
        bn.bias.copy_(0.3 * torch.randn(n))


def _residual_variant(block, x, *, shortcut=True, slope=None, post=False, act_after_sum=False):
    """The output of ``block`` computed with one deliberate mistake (for hints), or ``None``."""
    slope = block.negative_slope if slope is None else slope
    act = (lambda h: F.relu(h)) if slope == 0 else (lambda h: F.leaky_relu(h, slope))  # noqa: E731
    with torch.no_grad():
        if post:  # conv → batch norm → activation, twice (only possible when C_in = C_out)
            if block.conv1.in_channels != block.conv1.out_channels:
                return None
            h = act(block.bn1(block.conv1(x)))
            h = act(block.bn2(block.conv2(h)))
        else:
            h = block.conv1(act(block.bn1(x)))
            h = block.conv2(act(block.bn2(h)))
        out = h + block.shortcut(x) if shortcut else h
        return act(out) if act_after_sum else out


def _residual_cases():
    from ..blocks import ResidualBlock

    def case(c_in, c_out, shape, train=False, slope=0.01):
        def run(fn):
            block = ResidualBlock(c_in, c_out, negative_slope=slope)
            _randomise_batch_norm(block.bn1)
            _randomise_batch_norm(block.bn2)
            block.train(train)
            x = torch.randn(shape)
            reference, variants = copy.deepcopy(block), copy.deepcopy(block)
            with torch.no_grad():
                expected = reference(x.clone())
            x_in = x.clone()
            got = _call(fn, block, x_in)
            if not torch.equal(x_in, x):
                raise _Mismatch("your function changed its input x in place; work on new "
                                "tensors (e.g. avoid inplace=True on x itself)")
            variants.eval()  # the variants only serve as hints; eval keeps them deterministic
            mistakes = []
            if not train:
                mistakes = [
                    ("the shortcut is missing: a residual block adds its input (through "
                     "block.shortcut) to what the two convolutions computed",
                     _residual_variant(variants, x, shortcut=False)),
                    ("negative values are cut to zero: the activation is a LeakyReLU, not a ReLU",
                     _residual_variant(variants, x, slope=0.0)),
                    ("use the block's own LeakyReLU slope, block.negative_slope",
                     _residual_variant(variants, x, slope=0.01) if slope != 0.01 else None),
                    ("wrong order: this block is pre-activation (batch norm and LeakyReLU "
                     "*before* each convolution)", _residual_variant(variants, x, post=True)),
                    ("nothing comes after the sum: the output is the two convolutions' result "
                     "plus the shortcut, with no activation on top",
                     _residual_variant(variants, x, act_after_sum=True)),
                ]
            note = ("In training mode each batch norm normalises with the batch's own "
                    "statistics; call the block's batch-norm layers, do not re-normalise by hand"
                    if train else "")
            _compare("the block's output", got, expected, rtol=1e-4, atol=1e-5,
                     mistakes=mistakes, note=note)
        return run

    return [
        ("4 → 4 channels (identity shortcut), eval mode", case(4, 4, (2, 4, 8, 10))),
        ("3 → 6 channels (1×1-conv shortcut), odd sizes", case(3, 6, (2, 3, 7, 9))),
        ("batch of 1", case(5, 8, (1, 5, 5, 11))),
        ("LeakyReLU slope 0.2", case(4, 4, (2, 4, 6, 6), slope=0.2)),
        ("training mode (batch statistics)", case(4, 6, (3, 4, 6, 8), train=True)),
    ]


def check_residual_block(fn, progress: bool = True) -> CheckResult:
    """Check ``residual_forward(block, x) -> y`` (chapter 2's exercise).

    ``block`` is a :class:`lassnet.blocks.ResidualBlock` (without FiLM), ``x`` a feature map
    ``(B, C_in, T, F)``; ``y`` must equal ``block(x)``, computed from the block's layers.
    """
    return _run(RESIDUAL_BLOCK, fn, _residual_cases, progress)


RESIDUAL_BLOCK = Exercise(
    "residual_block", "residual_forward", "02_blocks", "lassnet.blocks.ResidualBlock.forward",
    "(batch norm → LeakyReLU → conv) twice, then add the shortcut of x", check_residual_block,
    teaches=2,
    withheld=(Withhold("lassnet.blocks.ResidualBlock.forward"),
              Withhold("lassnet.blocks.EncoderBlock.forward"),
              Withhold("lassnet.blocks.DecoderBlock.forward")),
)

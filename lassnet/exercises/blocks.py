"""The exercise of chapter 2 (Encoder and decoder blocks): ``residual_forward``.

The student computes a :class:`lassnet.blocks.ResidualBlock`'s output from its layers;
:func:`check_residual_block` compares it with the block itself (identity and 1×1-conv
shortcuts, odd sizes, a batch of one, another LeakyReLU slope, training mode) and recognises a
missing shortcut, a ReLU, a hard-coded slope, post-activation order and an activation after the
sum. Calling the block itself is refused: ``block(x)``, ``type(block).forward(block, x)``, a new
block, or an encoder or decoder block (which run residual blocks) while the student's function
runs. Taught in chapter 2 (Encoder and decoder blocks).

The *apply* exercise ``receptive_field_frames`` (on the book's exercises page) asks how many
input frames one output of a stack of encoder blocks sees; :func:`check_receptive_field`
measures it with the input gradient of real blocks (lassnet.introspect's own
``receptive_field`` is withheld).
"""

from __future__ import annotations

import copy
import functools

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


# --------------------------------------------------------------------------- apply: RF
@functools.cache
def _measured_receptive_field(depth: int, num_blocks: int) -> int:
    """How many input frames one output of ``depth`` stacked :class:`EncoderBlock` s (each
    ``num_blocks`` residual blocks, then a 2×2 average pooling) depends on: the extent, along
    time, of the non-zero gradient of one central output with respect to the input."""
    from ..blocks import EncoderBlock

    blocks = [EncoderBlock(1 if i == 0 else 2, 2, num_blocks=num_blocks).eval()
              for i in range(depth)]
    frames, bins = 2**depth * 24, 2**depth * 2
    x = torch.randn(1, 1, frames, bins, requires_grad=True)
    h = x
    for block in blocks:
        h, _ = block(h)
    h[0, :, h.shape[2] // 2, h.shape[3] // 2].sum().backward()
    seen = torch.nonzero(x.grad[0, 0].abs().sum(-1) > 0).flatten()
    return int(seen.max() - seen.min() + 1)


def _receptive_cases():
    def case(depth, num_blocks):
        def run(fn):
            expected = _measured_receptive_field(depth, num_blocks)
            got = _call(fn, depth, num_blocks)
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                got = got.item()
            if isinstance(got, bool) or not isinstance(got, (int, float)) or got != int(got):
                raise _Mismatch(f"return a whole number of frames, got {got!r}")
            got = int(got)
            if got == expected:
                return
            conv_only = 1 + 4 * num_blocks * depth  # every 3×3 conv adds 2, no pooling growth
            if got == conv_only and depth > 1:
                raise _Mismatch("each convolution after a pooling reaches twice as far in "
                                "input frames: the growth must be multiplied by the "
                                "accumulated stride")
            if got < expected:
                raise _Mismatch(f"too small: measured, the output sees more input frames than "
                                f"{got}. Count both 3×3 convolutions of every residual block "
                                "and what each pooling adds")
            raise _Mismatch(f"too large: measured, the output sees fewer input frames than "
                            f"{got}. The shortcut's 1×1 convolution adds nothing")
        return run

    return [
        ("two encoder blocks", case(2, 1)),
        ("one encoder block", case(1, 1)),
        ("three encoder blocks", case(3, 1)),
        ("two encoder blocks of two residual blocks each", case(2, 2)),
        ("four encoder blocks", case(4, 1)),
    ]


def check_receptive_field(fn, progress: bool = True) -> CheckResult:
    """Check ``receptive_field_frames(depth, num_blocks) -> int`` (chapter 2's apply exercise)
    against a measurement: the extent of the non-zero input gradient of one output of
    ``depth`` stacked encoder blocks (:func:`_measured_receptive_field`)."""
    return _run(RECEPTIVE_FIELD, fn, _receptive_cases, progress)


RECEPTIVE_FIELD = Exercise(
    "receptive_field", "receptive_field_frames", "exercises",
    "the measured input-gradient extent of stacked EncoderBlocks",
    "follow the reach r and the stride j block by block: a k×k conv adds (k−1)·j, a pooling "
    "by 2 adds j and doubles j", check_receptive_field, kind="apply", teaches=2, points=2,
    withheld=(Withhold("lassnet.introspect.receptive_field"),
              Withhold("lassnet.introspect.receptive_field_trace"),
              Withhold("lassnet.exercises.blocks._measured_receptive_field")),
)

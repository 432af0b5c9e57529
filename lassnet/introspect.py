"""Looking inside a separator: sizes, shapes, receptive field, feature maps (chapters 2 and 3).

* :func:`num_parameters` counts the parameters of any module or part of one: a block, the
  encoders, the FiLM layers (taught in chapters 2 and 3).

* :func:`shape_trace` runs one forward pass of a :class:`~lassnet.separator.SeparationNet` with
  forward hooks and lists the shape after every step of the U-Net (taught in chapter 2).
* :func:`receptive_field_trace` applies the textbook rule ``size += (k − 1)·jump`` layer by
  layer along the longest path; :func:`receptive_field` follows every path (skips and
  shortcuts included) for every output position and gives the exact extent, in frames and
  bins and in seconds and hertz (taught in chapter 2).
* :func:`capture_feature_maps` records the outputs of named layers for one mixture and one
  query, so that two queries can be compared on the same mixture (taught in chapter 3).
* :func:`film_trace` records, in one forward pass, what FiLM gave every conditioned layer
  (``β`` and ``γ`` per channel) and the feature maps of one layer: a :class:`FiLMTrace`, for
  looking at a trained model under two queries (taught in chapter 3).
* :func:`modality_gap` measures how far a two-tower query encoder puts clips from their own
  captions: cosine similarities within and across modalities, and the distance between the
  two modalities' centres (taught in chapter 4).

Shape letters: ``B`` batch, ``L`` samples, ``T`` frames, ``F`` bins, ``C`` channels, ``D``
embedding width.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from torch import nn

from .blocks import DecoderBlock, EncoderBlock, ResidualBlock

__all__ = [
    "num_parameters",
    "ShapeRow",
    "shape_trace",
    "RFRow",
    "ReceptiveField",
    "receptive_field_trace",
    "receptive_field",
    "capture_feature_maps",
    "FiLMTrace",
    "film_trace",
    "modality_gap",
    "encoder_gap",
]


# --------------------------------------------------------------------------- sizes
def num_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (every tensor in ``module.parameters()``, each
    counted once), or only of those with ``requires_grad`` when ``trainable_only``.

    Works for a whole separator and for any part of one (``net.film``, ``net.encoders[2]``),
    and on the ``meta`` device, where nothing is allocated. Taught in chapter 2 (Blocks) and
    chapter 3 (FiLM).
    """
    if not isinstance(module, nn.Module):
        raise ValueError(
            f"module must be a torch.nn.Module, got {type(module).__name__}; "
            "for a list of parameters use sum(p.numel() for p in params)"
        )
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------- shapes
@dataclass(frozen=True)
class ShapeRow:
    """One step of a forward pass: the layer's name, its output shape, and a remark."""

    layer: str
    shape: tuple[int, ...]
    note: str = ""

    def __str__(self) -> str:
        text = f"{self.layer:<12s} {str(self.shape):<22s}"
        return f"{text} {self.note}".rstrip()


def _top_steps(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """The separator's U-Net steps in the order they run: the ModuleLists are opened up."""
    names = ["pre_conv", "encoders", "centre", "decoders", "post_conv"]
    steps = []
    for name in names:
        module = getattr(net, name)
        if isinstance(module, nn.ModuleList):
            steps += [(f"{name}.{i}", m) for i, m in enumerate(module)]
        else:
            steps.append((name, module))
    return steps


@contextlib.contextmanager
def _eval_no_grad(net: nn.Module):
    """Eval mode and no autograd for the duration; the previous mode is restored afterwards."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        net.train(was_training)


def shape_trace(
    net: nn.Module, num_samples: int, condition: torch.Tensor | None = None
) -> list[ShapeRow]:
    """Shapes through a :class:`~lassnet.separator.SeparationNet` for a mixture of
    ``num_samples`` samples (batch 1).

    Returns one :class:`ShapeRow` per step: the ``mixture (1, 1, L)``, the spectrogram
    ``|X| (1, 1, T, F)`` (of the mixture padded to a whole number of hops, as the separator
    does), the ``pre_conv`` output (frames padded to a multiple of the total time
    pooling, bins cropped to a multiple of the total frequency pooling), each encoder's pooled
    output (its skip's shape in the note), the centre, each decoder, the ``post_conv`` logits
    ``(1, 3, T_pad, F_used)``, the magnitude mask ``(1, 1, T, F)`` and the separated waveform
    ``(1, 1, L)``. The shapes are recorded by forward hooks during a real forward pass (in eval
    mode, without autograd; the network's mode is restored). ``condition`` ``(1, D)`` defaults
    to a fixed unit vector. Taught in chapter 2.
    """
    cfg = net.config
    if condition is None:
        condition = torch.ones(1, cfg.condition_dim) / cfg.condition_dim**0.5  # (1, D)
    mixture = torch.zeros(1, 1, int(num_samples))  # (1, 1, L)
    recorded: list[tuple[str, object]] = []
    handles = [
        module.register_forward_hook(lambda _m, _i, out, name=name: recorded.append((name, out)))
        for name, module in _top_steps(net)
    ]
    try:
        with _eval_no_grad(net):
            out = net(mixture, condition, return_masks=True)
    finally:
        for handle in handles:
            handle.remove()

    frames, bins = out["mag"].shape[-2:]
    rows = [ShapeRow("mixture", tuple(mixture.shape), "(B, 1, L) samples")]
    rows.append(ShapeRow("|X|", tuple(out["mag"].shape), "(B, 1, T, F) frames × bins"))
    for name, value in recorded:
        if isinstance(value, tuple):  # an encoder block: (pooled, skip)
            pooled, skip = value
            note = f"skip {tuple(skip.shape)}" if pooled.shape != skip.shape else "no pooling"
            rows.append(ShapeRow(name, tuple(pooled.shape), note))
            continue
        note = ""
        if name == "pre_conv":
            t_pad, f_used = value.shape[-2:]
            changes = [f"T padded {frames}→{t_pad}"] if t_pad != frames else []
            changes += [f"F cropped {bins}→{f_used}"] if f_used != bins else []
            note = ", ".join(changes)
        elif name == "post_conv":
            note = "3 maps per bin"
        rows.append(ShapeRow(name, tuple(value.shape), note))
    rows.append(ShapeRow("masks", tuple(out["mag_mask"].shape), "cropped back to (T, F)"))
    rows.append(ShapeRow("separated", tuple(out["waveform"].shape), "(B, 1, L)"))
    return rows


# --------------------------------------------------------------------------- receptive field
@dataclass(frozen=True)
class RFRow:
    """The receptive field after one layer, by the textbook rule (see
    :func:`receptive_field_trace`).

    ``size`` is (frames, bins) of the network's input that one value of this layer's output
    sees; ``jump`` is the distance, in input frames and bins, between neighbouring output
    values (2 after one 2×2 pooling, back to 1 after the matching upsampling).
    """

    layer: str
    kind: str
    size: tuple[int, int]
    jump: tuple[Fraction, Fraction]


@dataclass(frozen=True)
class ReceptiveField:
    """How far one output value of a network can see, on its input grid and in physical units.

    ``frames`` and ``bins`` are the largest extent, over all output positions, of the input
    region one output value depends on (STFT frames and frequency bins for a separator);
    ``min_frames`` and ``min_bins`` the smallest (in a U-Net the extent depends on where an
    output sits on the pooling grid). ``seconds`` is the stretch of audio ``frames`` frames
    cover (``((frames − 1)·hop + n_fft) / sr``) and ``hertz`` the band ``bins`` bins cover
    (``bins · sr / n_fft``); both are ``None`` when the network has no STFT settings.
    """

    frames: int
    bins: int
    min_frames: int
    min_bins: int
    seconds: float | None = None
    hertz: float | None = None


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _ops(module: nn.Module, prefix: str = ""):
    """Yield ``(name, kind, kernel, stride)`` for the spatial layers of ``module`` in the order
    they are registered — for lassnet's blocks, the order they run. Strides may be fractions
    (an upsampling by ``u`` is a stride of ``1/u``)."""
    if isinstance(module, nn.Conv2d):
        dilation = _pair(module.dilation)
        kernel = tuple(
            d * (k - 1) + 1 for d, k in zip(dilation, _pair(module.kernel_size), strict=True)
        )
        yield prefix, "conv", kernel, tuple(Fraction(s) for s in _pair(module.stride))
    elif isinstance(module, nn.ConvTranspose2d):
        # With kernel = stride = u (the decoders' upsampling) each output value comes from one
        # input value: the field does not grow and neighbours are 1/u as far apart.
        kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        grow = tuple(k - s + 1 for k, s in zip(kernel, stride, strict=True))
        yield prefix, "upsample", grow, tuple(Fraction(1, s) for s in stride)
    elif isinstance(module, (nn.AvgPool2d, nn.MaxPool2d)):
        kernel = _pair(module.kernel_size)
        stride = _pair(module.stride if module.stride is not None else module.kernel_size)
        yield prefix, "pool", kernel, tuple(Fraction(s) for s in stride)
    else:
        for name, child in module.named_children():
            yield from _ops(child, f"{prefix}.{name}" if prefix else name)
        if isinstance(module, EncoderBlock) and module.pool != (1, 1):
            pool = tuple(Fraction(p) for p in module.pool)
            yield (f"{prefix}.pool" if prefix else "pool"), "pool", module.pool, pool


def receptive_field_trace(net: nn.Module) -> list[RFRow]:
    """The textbook receptive field after every convolution, pooling and upsampling on the
    longest path through ``net`` (for a U-Net: down through every encoder and the centre, up
    through every decoder), in input frames × bins, by the rule
    ``size += (k − 1)·jump; jump *= stride``.

    The layers are walked in the order they are registered, which for lassnet's blocks is the
    order in which they run. The rule treats the path as one chain of layers; the exact field
    of a U-Net also depends on where an output sits on the pooling grid (see
    :func:`receptive_field`). Taught in chapter 2.
    """
    size = [1, 1]
    jump = [Fraction(1), Fraction(1)]
    rows = []
    for name, kind, kernel, stride in _ops(net):
        for axis in range(2):
            size[axis] += (kernel[axis] - 1) * jump[axis]
            jump[axis] *= stride[axis]
        rows.append(RFRow(name, kind, (int(size[0]), int(size[1])), (jump[0], jump[1])))
    if not rows:
        raise ValueError("network has no convolution or pooling layers")
    return rows


# Exact receptive fields: for every position of a feature map along one axis, the first and
# last input index (``lo``, ``hi``) it depends on, carried through the network's real topology
# (skips and shortcuts included). Each axis is independent because every layer's window is a
# rectangle.
_Span = tuple[np.ndarray, np.ndarray]  # (lo, hi), each (N,) int


def _window(span: _Span, kernel: int, stride: int, padding: int, dilation: int = 1) -> _Span:
    """A convolution or pooling window along one axis."""
    lo, hi = span
    n = len(lo)
    n_out = (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    idx = np.arange(n_out)[:, None] * stride - padding + dilation * np.arange(kernel)[None, :]
    valid = (idx >= 0) & (idx < n)
    idx = idx.clip(0, n - 1)
    big = np.iinfo(np.int64).max
    return (
        np.where(valid, lo[idx], big).min(axis=1),
        np.where(valid, hi[idx], -big).max(axis=1),
    )


def _transposed(span: _Span, kernel: int, stride: int, padding: int, dilation: int = 1) -> _Span:
    """A transposed convolution along one axis: output ``o`` takes input ``i`` when
    ``o = i·stride − padding + dilation·m`` for some tap ``m``."""
    lo, hi = span
    n = len(lo)
    n_out = (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + 1
    num = np.arange(n_out)[:, None] + padding - dilation * np.arange(kernel)[None, :]
    valid = (num % stride == 0) & (num >= 0) & (num // stride < n)
    idx = (num // stride).clip(0, n - 1)
    big = np.iinfo(np.int64).max
    return (
        np.where(valid, lo[idx], big).min(axis=1),
        np.where(valid, hi[idx], -big).max(axis=1),
    )


def _union(a: _Span, b: _Span) -> _Span:
    """Two branches added or concatenated: the union of their fields."""
    return np.minimum(a[0], b[0]), np.maximum(a[1], b[1])


def _spans(module: nn.Module, spans: list[_Span], skip: list[_Span] | None = None):
    """Carry the ``(T, F)`` spans through ``module``; returns the output spans (and, for an
    encoder block, the skip's)."""
    if isinstance(module, (nn.Conv2d, nn.AvgPool2d, nn.MaxPool2d)):
        is_conv = isinstance(module, nn.Conv2d)
        kernel = _pair(module.kernel_size)
        stride = _pair(module.stride if module.stride is not None else module.kernel_size)
        padding = _pair(module.padding)
        dilation = _pair(module.dilation) if is_conv else (1, 1)
        return [_window(spans[a], kernel[a], stride[a], padding[a], dilation[a]) for a in (0, 1)]
    if isinstance(module, nn.ConvTranspose2d):
        if any(_pair(module.output_padding)):
            raise ValueError("receptive field: output_padding is not supported")
        k, s, p, d = (
            _pair(v) for v in (module.kernel_size, module.stride, module.padding, module.dilation)
        )
        return [_transposed(spans[a], k[a], s[a], p[a], d[a]) for a in (0, 1)]
    if isinstance(module, (nn.Identity, nn.modules.batchnorm._BatchNorm, nn.LeakyReLU, nn.ReLU)):
        return spans
    if isinstance(module, ResidualBlock):
        h = _spans(module.conv2, _spans(module.conv1, spans))
        return [_union(a, b) for a, b in zip(h, _spans(module.shortcut, spans), strict=True)]
    if isinstance(module, EncoderBlock):
        for block in module.blocks:
            spans = _spans(block, spans)
        skip_spans = spans
        if module.pool != (1, 1):
            spans = [_window(spans[a], module.pool[a], module.pool[a], 0) for a in (0, 1)]
        return spans, skip_spans
    if isinstance(module, DecoderBlock):
        spans = [_union(a, b) for a, b in zip(_spans(module.up, spans), skip, strict=True)]
        for block in module.blocks:
            spans = _spans(block, spans)
        return spans
    if isinstance(module, nn.Sequential):
        for child in module:
            spans = _spans(child, spans)
        return spans
    if all(hasattr(module, a) for a in ("pre_conv", "encoders", "centre", "decoders")):
        spans = _spans(module.pre_conv, spans)  # a SeparationNet's U-Net
        skips = []
        for encoder in module.encoders:
            spans, skip_spans = _spans(encoder, spans)
            skips.append(skip_spans)
        spans, _ = _spans(module.centre, spans)
        for decoder, skip_spans in zip(module.decoders, reversed(skips), strict=True):
            spans = _spans(decoder, spans, skip_spans)
        return _spans(module.post_conv, spans)
    raise ValueError(f"receptive field: no rule for {type(module).__name__}")


def receptive_field(net: nn.Module) -> ReceptiveField:
    """Exact receptive field of one output value of ``net``: the extent of the input region it
    depends on, through every path (skips and shortcuts included), largest and smallest over
    output positions away from the edges.

    Works on a :class:`~lassnet.separator.SeparationNet` (its U-Net, from the normalised
    spectrogram to the mask logits), its blocks, a single ``Conv2d`` or an ``nn.Sequential`` of
    them; no forward pass is run. For a separator (anything with a ``config`` holding
    ``sample_rate``, ``n_fft`` and ``hop_length``) the field is also given in seconds and
    hertz. A single 3×3 convolution sees 3 × 3. Taught in chapter 2.
    """
    rule = receptive_field_trace(net)[-1].size
    cfg = getattr(net, "config", None)
    factors = (cfg.time_factor, cfg.freq_factor) if hasattr(cfg, "time_factor") else (1, 1)
    # A grid long enough that the middle positions' fields never touch its edges.
    sizes = [4 * (r + 2 * f) for r, f in zip(rule, factors, strict=True)]
    sizes = [n + -n % f for n, f in zip(sizes, factors, strict=True)]
    spans = _spans(net, [(np.arange(n), np.arange(n)) for n in sizes])
    extents = []
    for lo, hi in spans:
        middle = slice(len(lo) // 4, 3 * len(lo) // 4)
        extents.append(hi[middle] - lo[middle] + 1)
    (frames, bins), (min_frames, min_bins) = (
        (int(e.max()) for e in extents),
        (int(e.min()) for e in extents),
    )
    if cfg is None or not all(hasattr(cfg, a) for a in ("sample_rate", "n_fft", "hop_length")):
        return ReceptiveField(frames, bins, min_frames, min_bins)
    seconds = ((frames - 1) * cfg.hop_length + cfg.n_fft) / cfg.sample_rate
    hertz = bins * cfg.sample_rate / cfg.n_fft
    return ReceptiveField(frames, bins, min_frames, min_bins, seconds, hertz)


# --------------------------------------------------------------------------- feature maps
def capture_feature_maps(
    net: nn.Module,
    mixture: torch.Tensor,
    condition: torch.Tensor,
    layer_names: list[str] | tuple[str, ...],
) -> dict[str, torch.Tensor]:
    """Outputs of the named layers of ``net`` for one forward pass ``net(mixture, condition)``.

    ``layer_names`` are dotted names as in ``net.named_modules()``, e.g.
    ``"encoders.0.blocks.0.bn1"`` (a FiLM-shifted batch norm) or ``"encoders.1"``. Returns
    ``{name: tensor (B, C, T', F')}`` (for an encoder block, its pooled output), detached and
    on the CPU. Runs in eval mode without autograd and restores the network's mode, so batch-norm
    statistics are left untouched. Raises ``ValueError`` for an unknown name. Taught in
    chapter 3.
    """
    modules = dict(net.named_modules())
    unknown = [n for n in layer_names if n not in modules]
    if unknown:
        raise ValueError(
            f"no layer named {unknown[0]!r}; see dict(net.named_modules()) for the names"
        )
    captured: dict[str, torch.Tensor] = {}

    def hook(name):
        def record(_module, _inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            # A copy: the next activation may work in place on this very tensor.
            captured[name] = out.detach().float().cpu().clone()

        return record

    handles = [modules[n].register_forward_hook(hook(n)) for n in layer_names]
    try:
        with _eval_no_grad(net):
            net(mixture, condition)
    finally:
        for handle in handles:
            handle.remove()
    silent = [n for n in layer_names if n not in captured]
    if silent:
        raise ValueError(
            f"layer {silent[0]!r} did not run in this forward pass (is it part of a fused "
            "copy, or a layer the network never calls?)"
        )
    return {n: captured[n] for n in layer_names}


# --------------------------------------------------------------------------- FiLM outputs
@dataclass
class FiLMTrace:
    """What FiLM did in one forward pass for one query (:func:`film_trace`).

    ``layers``: the conditioned layers' dotted names, in the order the network runs them;
    ``betas[k]`` the shift ``β`` of ``layers[k]``, ``(C_k,)``; ``gammas[k]`` its scale ``γ``
    ``(C_k,)`` or ``None`` for a shift-only FiLM (AudioSep's); ``layer`` and ``maps``: the
    traced layer's name and output for the example, ``(C, T', F')``, one value per
    ``time_factor`` STFT frames and ``freq_factor`` bins (its grid: frames ``hop_length ·
    time_factor`` samples apart, bins ``sample_rate / n_fft · freq_factor`` Hz apart). On the
    CPU. Drawn by
    :func:`lassnet.plot.plot_film_shifts` and :func:`lassnet.plot.plot_feature_change`;
    taught in chapter 3.
    """

    layers: list[str]
    betas: list[torch.Tensor]
    gammas: list[torch.Tensor | None]
    layer: str
    maps: torch.Tensor
    sample_rate: int
    hop_length: int
    n_fft: int
    time_factor: int = 1
    freq_factor: int = 1

    @property
    def grid(self) -> dict:
        """Keyword arguments of :func:`lassnet.plot.plot_tf_map` for the traced layer's maps."""
        return dict(sample_rate=self.sample_rate, hop_length=self.hop_length * self.time_factor,
                    n_fft=self.n_fft // self.freq_factor)

    @property
    def has_gamma(self) -> bool:
        return any(g is not None for g in self.gammas)


def film_trace(
    net: nn.Module, mixture: torch.Tensor, condition: torch.Tensor, layer: str
) -> FiLMTrace:
    """Run ``net(mixture, condition)`` once (a :class:`~lassnet.separator.SeparationNet`,
    ``mixture (1, 1, L)``, ``condition (1, D)``) and record, by forward hooks, the output of
    ``net.film`` (every conditioned layer's ``β`` and ``γ``) and of the layer named ``layer``
    (a dotted name of ``net.named_modules()``, e.g. ``"encoders.1.blocks.0"``).

    Runs in eval mode without autograd and restores the network's mode. Raises
    ``ValueError`` for a batch other than one, or an unknown or silent layer (as
    :func:`capture_feature_maps`). Taught in chapter 3.
    """
    if mixture.dim() != 3 or mixture.shape[0] != 1 or condition.shape[0] != 1:
        raise ValueError(
            f"film_trace takes one example: mixture (1, 1, L) and condition (1, D), got "
            f"{tuple(mixture.shape)} and {tuple(condition.shape)}"
        )
    film = getattr(net, "film", None)
    if film is None:
        raise ValueError("net has no FiLM module (net.film); pass a SeparationNet")
    params: dict = {}
    handle = film.register_forward_hook(lambda _m, _i, out: params.update(out))
    try:
        names = ["pre_conv"] if layer == "pre_conv" else ["pre_conv", layer]
        captured = capture_feature_maps(net, mixture, condition, names)
    finally:
        handle.remove()
    maps, top = captured[layer][0], captured["pre_conv"][0]  # (C, T', F'); (C0, T_pad, F_used)
    cfg = net.config

    def channels(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.detach().float().cpu().reshape(-1)  # (1,C,1,1)->(C,)

    layers = list(film.keys)
    return FiLMTrace(
        layers=layers,
        betas=[channels(params[k][0]) for k in layers],
        gammas=[channels(params[k][1]) for k in layers],
        layer=layer,
        maps=maps,
        sample_rate=cfg.sample_rate,
        hop_length=cfg.hop_length,
        n_fft=cfg.n_fft,
        time_factor=max(1, top.shape[1] // maps.shape[1]),
        freq_factor=max(1, top.shape[2] // maps.shape[2]),
    )


# --------------------------------------------------------------------------- query embeddings
def modality_gap(text, text_labels, audio, audio_labels) -> dict[str, float]:
    """How far apart a query encoder puts the two modalities of the same classes.

    ``text`` ``(N_t, D)`` and ``audio`` ``(N_a, D)``: unit-length embeddings of captions and
    of clips (``encoder.embed_text``, ``encoder.embed_audio``), with their classes
    ``text_labels`` and ``audio_labels`` (sequences of ``N_t`` and ``N_a`` names). Returns
    mean cosine similarities

    * ``text_same``, ``audio_same``: between two *different* items of one modality and one
      class (two paraphrases; two clips);
    * ``cross_same``: between a clip and a caption of its own class;
    * ``text_other``, ``audio_other``, ``cross_other``: the same for pairs of different
      classes;

    and ``centroid_distance``, the length of the *gap vector* between the modalities'
    centres, ``‖mean(audio) − mean(text)‖`` (the measure of Liang et al., 2022; 0 when the
    two clouds are centred at the same point, at most 2). Taught in chapter 4 (QueryNet).
    """
    t, a = _embedding_sets(text, audio, text_labels, audio_labels)
    names = sorted(set(text_labels) | set(audio_labels))
    tl = torch.tensor([names.index(x) for x in text_labels])
    al = torch.tensor([names.index(x) for x in audio_labels])

    def means(x, lx, y, ly, same_set: bool) -> tuple[float, float]:
        sim = x @ y.T  # (N_x, N_y) cosines (the inputs are unit vectors)
        same = lx[:, None] == ly[None, :]
        if same_set:  # an item against itself is not a pair
            same = same & ~torch.eye(len(lx), dtype=torch.bool)
        other = lx[:, None] != ly[None, :]
        if not same.any() or not other.any():
            raise ValueError("need two items of one class and items of two classes in each "
                             "modality and across them")
        return float(sim[same].mean()), float(sim[other].mean())

    text_same, text_other = means(t, tl, t, tl, True)
    audio_same, audio_other = means(a, al, a, al, True)
    cross_same, cross_other = means(a, al, t, tl, False)
    return {"text_same": text_same, "audio_same": audio_same, "cross_same": cross_same,
            "text_other": text_other, "audio_other": audio_other, "cross_other": cross_other,
            "centroid_distance": float((a.mean(0) - t.mean(0)).norm())}


def encoder_gap(encoder, captions, waves, wave_labels, sample_rate: int) -> dict[str, float]:
    """:func:`modality_gap` of a query encoder that takes both text and audio (``minilm-audio``,
    ``clap`` with a checkpoint): embeds every caption of ``captions`` (``{class: [caption,
    ...]}``) with ``encoder.embed_text`` and the clips ``waves`` (``(N, L)`` at
    ``sample_rate``, classes ``wave_labels``) with ``encoder.embed_audio``, and compares the
    two sets. ``benchmarks/query.py --gap`` runs it on the corpus's test clips for each
    encoder; chapter 4 (QueryNet) teaches what the numbers mean."""
    if not getattr(encoder, "supports_audio", False):
        raise ValueError(f"{type(encoder).__name__} embeds no audio; the modality gap needs an "
                         "encoder with both towers (minilm-audio, or clap with a checkpoint)")
    texts = [c for cs in captions.values() for c in cs]
    text_labels = [name for name, cs in captions.items() for _ in cs]
    if not texts:
        raise ValueError("captions is empty: give {class: [caption, ...]}")
    text = encoder.embed_text(texts)  # (N_t, D)
    audio = encoder.embed_audio(waves, sample_rate)  # (N, D)
    return modality_gap(text, text_labels, audio, list(wave_labels))


def _embedding_sets(text, audio, text_labels, audio_labels) -> tuple[torch.Tensor, torch.Tensor]:
    """``text`` ``(N_t, D)`` and ``audio`` ``(N_a, D)`` embeddings as float64 tensors, checked
    to share ``D`` and to have one label each (for :func:`modality_gap` and
    :func:`lassnet.plot.plot_modality_map`)."""
    t = torch.as_tensor(text, dtype=torch.float64)
    a = torch.as_tensor(audio, dtype=torch.float64)
    if t.dim() != 2 or a.dim() != 2 or t.shape[1] != a.shape[1]:
        raise ValueError(f"text (N_t, D) and audio (N_a, D) must share D, got "
                         f"{tuple(t.shape)} and {tuple(a.shape)}")
    if len(text_labels) != t.shape[0] or len(audio_labels) != a.shape[0]:
        raise ValueError("give one label per embedding: len(text_labels) == N_t and "
                         "len(audio_labels) == N_a")
    return t, a

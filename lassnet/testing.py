"""Deterministic stand-ins for tests, exercises and benchmarks: fake query encoders and a tiny
separator configuration, in one place.

They need no download and no trained weights, give the same numbers on every machine, and are
small enough that a training step takes milliseconds. They are *not* models of sound or
language: use them to exercise the machinery around an encoder or a separator (caches, batching,
training steps, checkpoints, figures), never to judge separation quality.

==========================  =================================================================
name                        what
==========================  =================================================================
:func:`letter_counts`       texts → how often each letter a–z occurs ``(B, 26)``
:class:`LetterEncoder`      a :class:`~lassnet.query.base.QueryEncoder` on letter counts
                            (text; optionally audio), recording what reaches the network
:class:`CountingEncoder`    the same with a cache and audio queries on (the cache tests)
:class:`FixedQueries`       caption ``"q<i>"`` → row ``i`` of a given table (exercise checks)
:data:`TINY_SEPARATOR`      overrides of the ``tiny`` preset for a two-level, 4-8-channel net
:func:`write_random_roberta`  a small random-weight ``roberta-base/`` folder, so that a CLAP
                            model can be built offline (its embeddings mean nothing)
:func:`audiosep_state_dict` random weights in AudioSep's checkpoint layout
:func:`audiosep_reference_forward`  AudioSep's forward written out independently (converter
                            tests, benchmarks)
==========================  =================================================================

The query encoders are taught in chapter 4 (QueryNet), the separator in chapter 2 (Encoder and
decoder blocks), training in chapter 7 (Training).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .query.base import QueryEncoder

__all__ = [
    "laion_clap_tiny",
    "released_clap_state",
    "report_with_scores",
    "CountingEncoder",
    "FixedQueries",
    "LetterEncoder",
    "TINY_SEPARATOR",
    "letter_counts",
    "write_random_roberta",
    "audiosep_state_dict",
    "audiosep_reference_forward",
]

#: Overrides of the ``tiny`` preset (``SeparationNet.from_preset("tiny", **TINY_SEPARATOR)`` or
#: ``TrainConfig(preset="tiny", separator=TINY_SEPARATOR)``): two encoder levels of 4 and 8
#: channels and an 8-channel centre, so that a training step on a short batch takes
#: milliseconds on a CPU. Lists, as a YAML training config spells them. Copy it before
#: changing it: ``dict(TINY_SEPARATOR, centre_channels=16)``.
TINY_SEPARATOR: dict = dict(channels=[4, 8], pools=[[2, 2], [2, 2]], centre_channels=8)


def letter_counts(texts: Sequence[str]) -> torch.Tensor:
    """``(B, 26)`` float32: how often each letter a–z occurs in each text (case-insensitive;
    other characters are ignored)."""
    counts = torch.zeros(len(texts), 26)
    for i, text in enumerate(texts):
        for ch in text.lower():
            if "a" <= ch <= "z":
                counts[i, ord(ch) - 97] += 1
    return counts


class LetterEncoder(QueryEncoder):
    """A tiny deterministic query encoder: letter counts through a fixed random projection.

    A text becomes :func:`letter_counts` ``(B, 26)`` → ``Linear(26, dim)`` → L2-normalised
    ``(B, dim)`` (the normalisation is the base class's). Texts with the same letters get the
    same embedding; that is all it knows about language. With ``audio=True`` it also takes
    audio queries at 8 kHz: a clip ``(B, L)`` is cut into 26 equal frames (``L ≥ 26``) whose
    mean absolute values go through the same projection.

    The projection is drawn from its own generator seeded with ``seed``: two encoders with the
    same arguments are identical, and building one leaves the global random state alone.
    Every batch that reaches the network is recorded in :attr:`text_calls` (the texts) and
    :attr:`audio_shapes` (``(B, L)`` of each audio batch), so that a test can see what the
    cache and the batching let through.

    Args:
        dim: ``D``, the embedding width.
        seed: the seed of the projection's weights.
        cache_size: texts kept by the embedding cache (0: no cache).
        batch_size: texts or clips per call of the network.
        audio: accept audio queries (at 8 kHz, at least 0.01 s).
    """

    name = "letters"

    def __init__(self, dim: int = 8, *, seed: int = 0, cache_size: int = 0,
                 batch_size: int = 64, audio: bool = False):
        super().__init__(cache_size=cache_size, batch_size=batch_size,
                         audio_sample_rate=8000 if audio else None, min_audio_seconds=0.01)
        generator = torch.Generator().manual_seed(seed)
        self.proj = nn.utils.skip_init(nn.Linear, 26, dim)  # no draw from the global RNG
        with torch.no_grad():
            bound = 26 ** -0.5  # nn.Linear's default range, drawn from our own generator
            self.proj.weight.uniform_(-bound, bound, generator=generator)
            self.proj.bias.uniform_(-bound, bound, generator=generator)
        self._dim = dim
        self.text_calls: list[list[str]] = []
        self.audio_shapes: list[tuple[int, ...]] = []
        self._freeze()

    def _encode_text(self, texts: list[str]) -> torch.Tensor:
        self.text_calls.append(list(texts))
        return self.proj(letter_counts(texts).to(self.device))  # (B, D)

    def _encode_audio(self, wave: torch.Tensor) -> torch.Tensor:
        self.audio_shapes.append(tuple(wave.shape))
        usable = (wave.shape[1] // 26) * 26
        frames = wave[:, :usable].reshape(wave.shape[0], 26, -1)  # (B, 26, L // 26)
        return self.proj(frames.abs().mean(-1))  # (B, D)


class CountingEncoder(LetterEncoder):
    """:class:`LetterEncoder` with an embedding cache (16 texts) and audio queries on by
    default: the stand-in for tests of the cache, batching and input checks of
    :class:`~lassnet.query.base.QueryEncoder`, which count the calls in :attr:`text_calls` and
    :attr:`audio_shapes`."""

    name = "counting"

    def __init__(self, cache_size: int = 16, batch_size: int = 64, audio: bool = True, *,
                 dim: int = 8, seed: int = 0):
        super().__init__(dim, seed=seed, cache_size=cache_size, batch_size=batch_size,
                         audio=audio)


class FixedQueries:
    """A stand-in for a text query encoder whose embeddings are given: caption ``"q<i>"`` →
    row ``i`` of ``table``.

    Args:
        table: ``(N, D)`` embeddings; ``dim`` is ``D``.

    ``embed_text(["q1", "q0"])`` returns rows 1 and 0, ``(2, D)``, as they are (not
    normalised again). It has only what :class:`lassnet.train.Trainer` asks of an encoder
    (``dim`` and ``embed_text``), so the exercise checkers can train on known conditions.
    """

    def __init__(self, table: torch.Tensor):
        self.table = table
        self.dim = table.shape[1]

    def embed_text(self, captions: Sequence[str]) -> torch.Tensor:
        """``(B, D)``: the rows named by captions ``"q<i>"``."""
        bad = [c for c in captions if not (c[:1] == "q" and c[1:].isdigit())]
        if bad:
            raise ValueError(f"FixedQueries knows captions 'q0' ... 'q{len(self.table) - 1}', "
                             f"got {bad[0]!r}")
        return self.table[[int(c[1:]) for c in captions]]


# --------------------------------------------------------------------------- CLAP offline
#: CLAP's text context in tokens when laion-clap trains it (as :mod:`lassnet.query.clap`)
CLAP_CONTEXT_LENGTH = 77
#: RoBERTa's position table: 512 tokens after the two positions its padding index takes
#: (AudioSep tokenises queries to 512)
ROBERTA_POSITIONS = 514


def write_random_roberta(folder: str | Path, texts: list[str] | None = None) -> Path:
    """Write ``folder/roberta-base``: a small random-weight stand-in for RoBERTa.

    For tests, benchmarks and offline demos only: laion-clap builds its text tower from a
    ``roberta-base/`` folder in the working directory when there is one, so with this folder
    a CLAP model can be constructed without the hub. The tokenizer is a byte-level BPE
    trained on ``texts``; the model has one layer of width 768 (what CLAP's text projection
    expects). Its embeddings mean nothing; the audio tower's cost is real. Returns the path.
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel

    out = Path(folder) / "roberta-base"
    out.mkdir(parents=True, exist_ok=True)
    texts = list(texts or ["a siren wailing", "rain falling on a roof", "a telephone ringing",
                           "birds chirping", "a bell tolling", "a dog barking"])
    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(
        texts * 4,
        vocab_size=320,
        min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        show_progress=False,
    )
    tokenizer.save_model(str(out))
    config = RobertaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=768,
        num_hidden_layers=1,
        num_attention_heads=12,
        intermediate_size=64,
        max_position_embeddings=ROBERTA_POSITIONS,  # as roberta-base
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        RobertaModel(config).save_pretrained(str(out))
    return out


# --------------------------------------------------------------------------- AudioSep
_ENC = [(1, 32, 32, (2, 2)), (2, 32, 64, (2, 2)), (3, 64, 128, (2, 2)), (4, 128, 256, (2, 2)),
       (5, 256, 384, (2, 2)), (6, 384, 384, (1, 2))]
_DEC = [(1, 384, 384, (1, 2)), (2, 384, 384, (2, 2)), (3, 384, 256, (2, 2)),
       (4, 256, 128, (2, 2)), (5, 128, 64, (2, 2)), (6, 64, 32, (2, 2))]
_COND = 512


def _stft_modules():
    import torchlibrosa.stft as torchlibrosa  # the dev extra; AudioSep's own STFT

    kw = dict(n_fft=2048, hop_length=320, win_length=2048, window="hann", center=True,
              pad_mode="reflect", freeze_parameters=True)
    return torchlibrosa.STFT(**kw), torchlibrosa.ISTFT(**kw)


def audiosep_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the key layout of AudioSep's Lightning checkpoints (ResUNet30 with a
    512-d FiLM, the frozen STFT matrices of torchlibrosa, and one CLAP key beside them), for
    testing the converter (:func:`lassnet.audiosep.load_audiosep`) without the 1.2 GB file."""
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def conv(name, cin, cout, k, bias):
        scale = 1 / math.sqrt(cin * k[0] * k[1])
        sd[f"{name}.weight"] = scale * torch.randn(cout, cin, *k, generator=g)
        if bias:
            sd[f"{name}.bias"] = 0.1 * torch.randn(cout, generator=g)

    def bn(name, c):
        sd[f"{name}.weight"] = 1 + 0.2 * torch.randn(c, generator=g)
        sd[f"{name}.bias"] = 0.2 * torch.randn(c, generator=g)
        sd[f"{name}.running_mean"] = 0.2 * torch.randn(c, generator=g)
        sd[f"{name}.running_var"] = 0.5 + torch.rand(c, generator=g)
        sd[f"{name}.num_batches_tracked"] = torch.tensor(1000)

    def film(path, c):
        sd[f"ss_model.film.{path}.weight"] = 0.05 * torch.randn(c, _COND, generator=g)
        sd[f"ss_model.film.{path}.bias"] = 0.05 * torch.randn(c, generator=g)

    def res(prefix, fpath, cin, cout):
        bn(f"{prefix}.bn1", cin)
        bn(f"{prefix}.bn2", cout)
        conv(f"{prefix}.conv1", cin, cout, (3, 3), False)
        conv(f"{prefix}.conv2", cout, cout, (3, 3), False)
        if cin != cout:
            conv(f"{prefix}.shortcut", cin, cout, (1, 1), True)
        film(f"{fpath}->beta1", cin)
        film(f"{fpath}->beta2", cout)

    b = "ss_model.base"
    stft, istft = _stft_modules()
    for k, v in stft.state_dict().items():
        sd[f"{b}.stft.{k}"] = v
    for k, v in istft.state_dict().items():
        sd[f"{b}.istft.{k}"] = v
    bn(f"{b}.bn0", 1025)
    conv(f"{b}.pre_conv", 1, 32, (1, 1), True)
    for i, cin, cout, _ in _ENC:
        res(f"{b}.encoder_block{i}.conv_block1", f"encoder_block{i}->conv_block1", cin, cout)
    res(f"{b}.conv_block7a.conv_block1", "conv_block7a->conv_block1", 384, 384)
    for i, cin, cout, up in _DEC:
        up_weight = torch.randn(cin, cout, *up, generator=g) / math.sqrt(cin)
        sd[f"{b}.decoder_block{i}.conv1.weight"] = up_weight
        bn(f"{b}.decoder_block{i}.bn1", cin)
        bn(f"{b}.decoder_block{i}.bn2", cin)  # present in AudioSep, unused by its forward
        film(f"decoder_block{i}->beta1", cin)
        film(f"decoder_block{i}->beta2", cin)  # likewise unused
        res(f"{b}.decoder_block{i}.conv_block2", f"decoder_block{i}->conv_block2", 2 * cout, cout)
    conv(f"{b}.after_conv", 32, 3, (1, 1), True)
    sd["query_encoder.model.logit_scale_a"] = torch.tensor(1.0)  # CLAP lives beside it
    return sd


def audiosep_reference_forward(
    sd: dict[str, torch.Tensor], mixture: torch.Tensor, condition: torch.Tensor
) -> torch.Tensor:
    """AudioSep's ResUNet30 separation, written out step by step from an AudioSep-layout
    state dict (eval mode): ``mixture (B, 1, L)``, ``condition (B, 512)`` → ``(B, 1, L)``.

    An independent re-statement of AudioSep's ``models/resunet.py`` forward: torchlibrosa's
    conv-based STFT/ISTFT (the transform AudioSep uses), batch norm then ``+ β`` then
    LeakyReLU before each convolution, nothing folded. It shares no code with lassnet's
    modules, so the converter is checked against it, and ``benchmarks/separator.py
    --reference`` times it beside lassnet's separator."""
    W = {k[len("ss_model."):]: v for k, v in sd.items() if k.startswith("ss_model.")}

    def bn(x, name):
        return F.batch_norm(x, W[f"{name}.running_mean"], W[f"{name}.running_var"],
                            W[f"{name}.weight"], W[f"{name}.bias"], training=False, eps=1e-5)

    def beta(path):
        return (condition @ W[f"film.{path}.weight"].T + W[f"film.{path}.bias"])[:, :, None, None]

    def res(x, name, fpath):
        h = F.conv2d(F.leaky_relu(bn(x, f"{name}.bn1") + beta(f"{fpath}->beta1"), 0.01),
                     W[f"{name}.conv1.weight"], padding=1)
        h = F.conv2d(F.leaky_relu(bn(h, f"{name}.bn2") + beta(f"{fpath}->beta2"), 0.01),
                     W[f"{name}.conv2.weight"], padding=1)
        if f"{name}.shortcut.weight" in W:
            x = F.conv2d(x, W[f"{name}.shortcut.weight"], W[f"{name}.shortcut.bias"])
        return x + h

    stft, istft = _stft_modules()
    real, imag = stft(mixture[:, 0, :])  # (B, 1, T, F)
    mag = torch.clamp(real**2 + imag**2, 1e-10, math.inf) ** 0.5
    cos, sin = real / mag, imag / mag
    x = bn(mag.transpose(1, 3), "base.bn0").transpose(1, 3)
    frames = x.shape[2]
    x = F.pad(x, (0, 0, 0, int(math.ceil(frames / 32)) * 32 - frames))[..., :-1]
    x = F.conv2d(x, W["base.pre_conv.weight"], W["base.pre_conv.bias"])
    skips = []
    for i, _, _, pool in _ENC:
        x = res(x, f"base.encoder_block{i}.conv_block1", f"encoder_block{i}->conv_block1")
        skips.append(x)
        x = F.avg_pool2d(x, kernel_size=pool)
    x = res(x, "base.conv_block7a.conv_block1", "conv_block7a->conv_block1")
    for (i, _, _, up), skip in zip(_DEC, reversed(skips), strict=True):
        h = F.leaky_relu(bn(x, f"base.decoder_block{i}.bn1") + beta(f"decoder_block{i}->beta1"),
                         0.01)
        h = F.conv_transpose2d(h, W[f"base.decoder_block{i}.conv1.weight"], stride=up)
        x = res(torch.cat((h, skip), dim=1), f"base.decoder_block{i}.conv_block2",
                f"decoder_block{i}->conv_block2")
    x = F.conv2d(x, W["base.after_conv.weight"], W["base.after_conv.bias"])
    x = F.pad(x, (0, 1))[:, :, :frames, :]
    m_mag = torch.sigmoid(x[:, 0:1])
    m_real, m_imag = torch.tanh(x[:, 1:2]), torch.tanh(x[:, 2:3])
    m_abs = (m_real**2 + m_imag**2) ** 0.5
    m_cos = m_real / torch.clamp(m_abs, 1e-10, math.inf)
    m_sin = m_imag / torch.clamp(m_abs, 1e-10, math.inf)
    out_cos = cos * m_cos - sin * m_sin
    out_sin = sin * m_cos + cos * m_sin
    out_mag = F.relu(mag * m_mag)
    wave = istft(out_mag * out_cos, out_mag * out_sin, mixture.shape[-1])
    return wave[:, None, :]


def laion_clap_tiny():
    """laion-clap's own ``CLAP_Module`` (HTSAT-tiny audio tower) with weights drawn from
    ``torch.manual_seed(0)``, built offline: the reference the CLAP tests compare lassnet
    with. The working directory must hold the ``roberta-base/`` folder that
    :func:`write_random_roberta` writes. Returned in eval mode."""
    import warnings

    from ._compat.laion_clap import hub_offline

    with hub_offline():  # importing laion_clap would fetch tokenizers from the hub
        import laion_clap

        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*meshgrid.*")
            module = laion_clap.CLAP_Module(enable_fusion=False, amodel="HTSAT-tiny",
                                            device="cpu")
    return module.eval()


def released_clap_state(module) -> dict[str, torch.Tensor]:
    """``module``'s weights laid out as LAION's released CLAP files hold them: every key
    under ``module.``, plus the ``position_ids`` buffer (514 positions) that current
    transformers no longer keeps."""
    import collections

    released = collections.OrderedDict(
        ("module." + k, v) for k, v in module.model.state_dict().items())
    released["module.text_branch.embeddings.position_ids"] = torch.arange(514)[None]
    return released


def report_with_scores(scores: dict[str, dict[str, float]], sample_rate: int = 16000):
    """An :class:`~lassnet.evaluate.EvalReport` in which class ``label`` scores
    ``value ± 1`` dB (two mixtures) for each ``method: value`` of ``scores[label]``, on every
    metric: a report with known means for testing what reads reports (tables, figures)."""
    from .evaluate import EvalReport

    report = EvalReport(sample_rate=sample_rate)
    for i, (label, by_method) in enumerate(scores.items()):
        for method, value in by_method.items():
            for j, delta in enumerate((-1.0, 1.0)):
                report.rows.append(dict(index=2 * i + j, label=label, caption=label,
                                        method=method, sdr=value + delta, si_sdr=value + delta,
                                        sdri=value + delta, si_sdri=value + delta))
    return report

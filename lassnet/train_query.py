"""Training the audio tower against frozen MiniLM, and scoring it by held-out retrieval.

Taught in chapter 4 (QueryNet). CLAP learns a text tower and an audio tower together; here
the text tower is the frozen MiniLM (the default query encoder) and only the small audio CNN
(:class:`~lassnet.query.audio_tower.AudioTower`) is learned, CLAP-style: a batch of clips and
captions is scored all-against-all (cosine × a learnable inverse temperature), and a
symmetric InfoNCE loss asks each clip to pick out its own captions among the batch's and each
caption its own clips. Clips of one class share a class's captions, so every same-class pair
counts as a positive. After training, an audio embedding lands next to the MiniLM embeddings
of its captions, and a separator trained on text queries can take audio queries too
(``lassnet.query.build("minilm-audio")``).

This is pipeline-level code: it draws clips and captions from the synthetic corpus
(:mod:`lassnet.data`, chapter 6), which the encoders in :mod:`lassnet.query` never import.

Train it with ``python -m lassnet.train_query --out data/audio_encoder_minilm.pt --seed 0``
(or ``lassnet train-query ...``); the file keeps the weights, the configuration, the exact
command and seed, and the test-split retrieval accuracy.

Shape letters: ``B`` batch, ``L`` samples, ``F`` mel bands, ``T`` frames, ``D`` embedding
width (384), ``K`` classes, ``N`` clips.
"""

from __future__ import annotations

import argparse
import math
import numbers
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .data import CAPTIONS, CLASSES, SyntheticClips, clip_seed, synthesize
from .query.audio_tower import (
    PROBE_CAPTION,
    WEIGHTS_NAME,
    AudioEncoderConfig,
    AudioTower,
    default_weights_path,
    save_audio_tower,
)
from .query.base import QueryEncoder, class_prototypes
from .query.minilm import MiniLMEncoder

__all__ = [
    "contrastive_loss",
    "alignment_loss",
    "retrieval_accuracy",
    "TrainSettings",
    "train_audio_encoder",
    "main",
]

#: the command that runs :func:`main` (recorded in every weights file it writes)
PROG = "python -m lassnet.train_query"


# ---------------------------------------------------------------------------- losses
def contrastive_loss(
    audio: torch.Tensor, text: torch.Tensor, labels: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE between ``B`` clips and their ``B`` captions.

    Taught in chapter 4 (QueryNet). ``audio`` and ``text`` are ``(B, D)`` unit vectors,
    ``labels`` ``(B,)`` class ids, ``logit_scale`` the log inverse temperature. Scores are
    ``exp(logit_scale) · audio @ text.T``; the target of each row (a clip) and each column (a
    caption) is spread evenly over the pairs of the same class. With one item per class this
    is exactly CLAP's loss.
    """
    logits = logit_scale.exp() * audio @ text.T  # (B, B)
    same = (labels[:, None] == labels[None, :]).float()  # (B, B), symmetric
    target = same / same.sum(dim=1, keepdim=True)
    a2t = -(target * logits.log_softmax(dim=1)).sum(dim=1).mean()
    t2a = -(target * logits.T.log_softmax(dim=1)).sum(dim=1).mean()
    return 0.5 * (a2t + t2a)


def alignment_loss(audio: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """``1 − cos`` between each clip's embedding ``(B, D)`` and its class prototype ``(B, D)``.

    Taught in chapter 4 (QueryNet). InfoNCE only ranks: a clip may score its captions above
    the others' while sitting far from all of them (cosine ≈ 0.65 here, where a caption sits
    at ≈ 0.85 from its class's mean caption). A separator trained on *text* embeddings then
    sees an audio query as an unfamiliar vector. This term pulls the clip onto the mean
    MiniLM embedding of its class's captions, so that audio and text queries look alike.
    """
    return (1 - (audio * prototypes).sum(dim=-1)).mean()


# ---------------------------------------------------------------------------- evaluation
def retrieval_accuracy(
    encoder: QueryEncoder,
    split: str = "test",
    per_class: int = 20,
    duration: float = 2.0,
    seed: int = 0,
) -> dict:
    """Held-out retrieval on the synthetic corpus: which class does each clip's embedding
    point to?

    Not zero-shot: the tower was trained on these very classes (other clips of them), with a
    loss that pulls every clip onto its class's caption prototype, so this is nearest-class-
    mean classification of clips it has not heard.

    Taught in chapter 4 (QueryNet). Embeds ``per_class`` clips of every class of ``split``
    with ``embed_audio`` and every caption with ``embed_text``; a clip is right when its
    nearest class prototype (mean caption embedding) is its class (``top1``), and when its
    single nearest caption belongs to its class (``top1_caption``). Also returns the mean
    cosine between a clip and its own prototype (``cosine``) and the confusion counts.
    """
    classes, captions = CLASSES, CAPTIONS
    clips = SyntheticClips(split, encoder.audio_sample_rate or 16000, duration,
                           count=per_class * len(classes), seed=seed)
    waves = torch.stack([clips[i]["wave"] for i in range(len(clips))])  # (N, 1, L)
    labels = torch.tensor([i % len(classes) for i in range(len(clips))])
    audio = torch.cat([encoder.embed_audio(waves[i : i + 64], clips.sample_rate)
                       for i in range(0, len(waves), 64)]).cpu()  # (N, D)
    protos = class_prototypes(encoder, classes, captions).cpu()  # (K, D)
    texts = [c for name in classes for c in captions[name]]
    text_class = torch.tensor([k for k, name in enumerate(classes) for _ in captions[name]])
    caption_emb = encoder.embed_text(texts).cpu()
    guess = (audio @ protos.T).argmax(1)
    guess_caption = text_class[(audio @ caption_emb.T).argmax(1)]
    confusion = torch.zeros(len(classes), len(classes), dtype=torch.long)
    confusion.index_put_((labels, guess), torch.ones_like(labels), accumulate=True)
    return {
        "top1": float((guess == labels).float().mean()),
        "top1_caption": float((guess_caption == labels).float().mean()),
        "cosine": float((audio * protos[labels]).sum(1).mean()),
        "clips": len(clips),
        "classes": list(classes),
        "confusion": confusion.tolist(),
    }


# ---------------------------------------------------------------------------- training
@dataclass
class TrainSettings:
    """How :func:`train_audio_encoder` trains (recorded in the weights file)."""

    steps: int = 1500
    batch_size: int = 56
    seed: int = 0
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    min_seconds: float = 1.0
    max_seconds: float = 4.0
    spec_mask: bool = True
    align_weight: float = 1.0
    eval_every: int = 250
    eval_per_class: int = 6
    test_per_class: int = 30
    test_seconds: float = 2.0
    threads: int = 1
    device: str = "cpu"
    config: AudioEncoderConfig = field(default_factory=AudioEncoderConfig)


def _spec_mask(logmel: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mask one random band of mel bins and one random span of frames per clip (to the
    clip's mean), a light SpecAugment."""
    b, _, n_f, n_t = logmel.shape
    out = logmel.clone()
    fill = logmel.mean(dim=(2, 3))  # (B, 1)
    for i in range(b):
        f_w = int(torch.randint(0, n_f // 8 + 1, (1,), generator=gen))
        f_0 = int(torch.randint(0, n_f - f_w + 1, (1,), generator=gen))
        t_w = int(torch.randint(0, n_t // 8 + 1, (1,), generator=gen))
        t_0 = int(torch.randint(0, n_t - t_w + 1, (1,), generator=gen))
        out[i, :, f_0 : f_0 + f_w, :] = fill[i, 0]
        out[i, :, :, t_0 : t_0 + t_w] = fill[i, 0]
    return out


def _train_batch(step: int, s: TrainSettings, classes, rng_seed: int):
    """Class-balanced batch of fresh training-split clips of one random length: waves
    ``(B, L)``, labels ``(B,)`` (indices into ``classes``) and one random caption per clip."""
    rng = np.random.default_rng([rng_seed, step])
    duration = float(rng.uniform(s.min_seconds, s.max_seconds))
    k = len(classes)
    labels = np.concatenate([rng.permutation(k) for _ in range(math.ceil(s.batch_size / k))])
    labels = labels[: s.batch_size]
    waves, captions = [], []
    for j, label in enumerate(labels):
        name = classes[label]
        seed = clip_seed("train", step * s.batch_size + j, rng_seed % 2**16)
        waves.append(torch.from_numpy(synthesize(name, seed, s.config.sample_rate, duration)))
        captions.append(CAPTIONS[name][int(rng.integers(len(CAPTIONS[name])))])
    return torch.stack(waves), torch.from_numpy(labels), captions  # (B, L), (B,), B strings


def _whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def train_audio_encoder(
    out_path: str | Path | None = None,
    steps: int = 1500,
    batch_size: int = 56,
    seed: int = 0,
    progress: bool = True,
    command: str | None = None,
    **options,
) -> dict:
    """Train the audio tower against frozen MiniLM caption embeddings; save and evaluate it.

    Taught in chapter 4 (QueryNet). Every step synthesises a fresh, class-balanced batch of
    training-split clips (one random length in ``[min_seconds, max_seconds]``), pairs each
    with a random caption of its class, and minimises :func:`contrastive_loss` with AdamW
    (warm-up, then cosine decay). A tqdm bar shows loss, temperature and the validation
    split's retrieval accuracy. At the end the test split's held-out retrieval accuracy is
    measured (:func:`retrieval_accuracy`) and written, with the configuration, the command
    and the seed, into the weights file.

    Args:
        out_path: where to write the weights (default :func:`default_weights_path`).
        steps: optimisation steps (1500 made the shipped tower; the fast switch does not
            change it: pass a smaller number for a quick run).
        batch_size: clips per step.
        seed: seeds initialisation, batches and clips.
        progress: show the tqdm bar.
        command: the command line to record (default: a ``python -m`` line for these args).
        **options: other :class:`TrainSettings` fields (``lr``, ``threads``, ``device``, ...).

    Returns:
        a report: ``test`` (from :func:`retrieval_accuracy`), ``train_seconds``, ``path``,
        ``history`` (step, loss, temperature, validation accuracy).
    """
    unknown = sorted(set(options) - {f.name for f in fields(TrainSettings)})
    if unknown:
        raise ValueError(
            f"train_audio_encoder does not take {', '.join(unknown)}; its settings are "
            f"{', '.join(f.name for f in fields(TrainSettings))}"
        )
    if not _whole(steps) or steps < 1:
        raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
    if not _whole(batch_size) or batch_size < 2:
        raise ValueError(
            f"batch_size must be a whole number >= 2 (InfoNCE needs other clips to compare "
            f"with), got {batch_size!r}"
        )
    s = TrainSettings(steps=int(steps), batch_size=int(batch_size), seed=seed, **options)
    if not 0 < s.config.min_seconds <= s.min_seconds <= s.max_seconds:
        raise ValueError(
            f"clip lengths must satisfy config.min_seconds <= min_seconds <= max_seconds, got "
            f"{s.config.min_seconds} <= {s.min_seconds} <= {s.max_seconds}"
        )
    out_path = Path(out_path) if out_path is not None else default_weights_path()
    if command is None:
        command = f"{PROG} " + shlex.join(
            ["--out", str(out_path), "--steps", str(s.steps), "--batch-size",
             str(s.batch_size), "--seed", str(s.seed)]
        )
    threads_before = torch.get_num_threads()
    torch.set_num_threads(s.threads)
    device = torch.device(s.device)
    try:
        torch.manual_seed(s.seed)
        text_encoder = MiniLMEncoder(device=device)
        classes = CLASSES
        prototypes = class_prototypes(text_encoder, classes, CAPTIONS).to(device)  # (K, D)
        tower = AudioTower(s.config).to(device)
        logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07), device=device))
        decay = [p for n, p in tower.named_parameters() if p.dim() > 1]
        other = [p for n, p in tower.named_parameters() if p.dim() <= 1]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": s.weight_decay},
             {"params": other + [logit_scale], "weight_decay": 0.0}],
            lr=s.lr,
        )

        def lr_at(step: int) -> float:
            if step < s.warmup:
                return (step + 1) / s.warmup
            return 0.5 * (1 + math.cos(math.pi * (step - s.warmup) / max(1, s.steps - s.warmup)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
        val_encoder = _TowerView(text_encoder, tower)
        gen = torch.Generator().manual_seed(s.seed)
        history = []
        start = time.perf_counter()
        bar = tqdm(range(s.steps), desc="audio tower", disable=not progress)
        val_acc = float("nan")
        for step in bar:
            tower.train()
            waves, labels, captions = _train_batch(step, s, classes, s.seed)
            text = text_encoder.embed_text(captions).to(device)  # (B, 384), cached
            logmel = tower.logmel(waves.to(device))
            if s.spec_mask:
                logmel = _spec_mask(logmel, gen)
            audio = F.normalize(tower.embed_logmel(logmel), dim=-1)
            labels = labels.to(device)
            loss = contrastive_loss(audio, text, labels, logit_scale)
            if s.align_weight:
                loss = loss + s.align_weight * alignment_loss(audio, prototypes[labels])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                logit_scale.clamp_(0, math.log(100))
            if (step + 1) % s.eval_every == 0 or step + 1 == s.steps:
                tower.eval()
                val_acc = retrieval_accuracy(val_encoder, "validation", s.eval_per_class,
                                             s.test_seconds, s.seed)["top1"]
            history.append({"step": step + 1, "loss": loss.item(),
                            "temperature": math.exp(-logit_scale.item()), "val_top1": val_acc})
            last = history[-1]
            bar.set_postfix(loss=f"{last['loss']:.3f}", temp=f"{last['temperature']:.3f}",
                            val=f"{val_acc:.2f}")
        train_seconds = time.perf_counter() - start
        tower.eval()
        test = retrieval_accuracy(val_encoder, "test", s.test_per_class, s.test_seconds, s.seed)
        settings_dict = asdict(s)
        settings_dict["config"]["channels"] = list(s.config.channels)
        metadata = {
            "command": command,
            "seed": s.seed,
            "train": settings_dict,
            "text_model": f"all-MiniLM-L6-v2 ({text_encoder.model_path.name} folder)",
            "probe_embedding": text_encoder.embed_text([PROBE_CAPTION])[0].cpu().tolist(),
            "test_top1": test["top1"],
            "test_top1_caption": test["top1_caption"],
            "test_cosine": test["cosine"],
            "test_clips": test["clips"],
            "train_seconds": round(train_seconds, 1),
            "temperature": math.exp(-logit_scale.item()),
            "torch": str(torch.__version__),
            "machine": platform.machine(),
        }
        save_audio_tower(tower.cpu(), out_path, metadata)
    finally:
        torch.set_num_threads(threads_before)
    return {"test": test, "train_seconds": train_seconds, "path": str(out_path),
            "history": history}


class _TowerView(QueryEncoder):
    """A MiniLM encoder and a tower being trained, seen as one encoder (for evaluation)."""

    name = "minilm-audio (training)"

    def __init__(self, text: MiniLMEncoder, tower: AudioTower):
        super().__init__(cache_size=0, audio_sample_rate=tower.config.sample_rate,
                         min_audio_seconds=tower.config.min_seconds)
        self._text = [text]  # kept out of the module tree: it is not ours to move or freeze
        self._tower = [tower]
        self._dim = text.dim

    @property
    def device(self) -> torch.device:
        return next(self._tower[0].parameters()).device

    def _encode_text(self, texts):
        return self._text[0].embed_text(texts)

    def _encode_audio(self, wave):
        return self._tower[0](wave)


# ---------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> dict:
    """``python -m lassnet.train_query --out PATH --seed 0 [--steps N] ...`` (also
    ``lassnet train-query ...``): train, save, and print the test-split accuracy.

    Returns the report of :func:`train_audio_encoder`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train the audio encoder aligned to MiniLM on the synthetic corpus.",
    )
    parser.add_argument("--out", default=None, help=f"weights file (default data/{WEIGHTS_NAME})")
    parser.add_argument("--steps", type=int, default=1500, help="optimisation steps")
    parser.add_argument("--batch-size", type=int, default=56)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--align-weight", type=float, default=1.0,
                        help="weight of the pull onto the class's mean caption (0: InfoNCE only)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads while training")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--test-per-class", type=int, default=30)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    report = train_audio_encoder(
        out_path=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=not args.no_progress,
        command=f"{PROG} " + shlex.join(argv),
        lr=args.lr,
        align_weight=args.align_weight,
        threads=args.threads,
        device=args.device,
        test_per_class=args.test_per_class,
    )
    test = report["test"]
    print(f"wrote {report['path']}: test-split held-out retrieval top-1 {test['top1']:.1%} "
          f"(nearest caption {test['top1_caption']:.1%}, {test['clips']} clips), "
          f"trained {report['train_seconds'] / 60:.1f} min")
    return report


if __name__ == "__main__":
    main()

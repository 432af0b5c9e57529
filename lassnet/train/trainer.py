"""The training loop: :class:`Trainer` and :func:`train`.

Taught in chapter 7 (Training). AudioSep's recipe is the default: L1 loss between separated
and target waveforms, AdamW with ``lr = 1e-3`` and AMSGrad, a linear warm-up then a constant
rate, mixtures built on the fly, and the query a caption of the target (or, with probability
``1 − use_text_ratio``, an audio clip of the target's class through an audio-capable encoder).

* Runs on CPU, on one GPU (mixed precision), and on several GPUs or nodes through PyTorch's
  ``DistributedDataParallel`` when launched with ``torchrun``.
* The learning rate of step ``s`` is ``lr · lr_factor(s)``, set on the optimiser before the
  step: a pure function of the step, so a checkpoint needs nothing about the schedule.
* Checkpoints, resuming, the random streams, the logs, the run folder (its lock, its
  housekeeping) and Ctrl-C handling live in :mod:`lassnet.train.state`; which mixtures each
  step reads, in :mod:`lassnet.train.data`.
* Everything that can be checked is checked before the first step: the device exists, the run
  folder is a folder one can write in, with room for a checkpoint, and no other run uses it.
* A *trainable* query encoder (only the ``label`` ablation, chapter 4) is trained with the
  separator: its parameters are a second group of the same AdamW (same learning rate and
  schedule, same weight decay), share the gradient clipping, are saved in every checkpoint
  and in ``model.pt`` (``query_state``) and restored on resume. Its embeddings are computed
  with gradients, never cached. A frozen encoder's files are as before.
* Global settings are borrowed, not changed: the model is built from the run's own seeded
  random streams, and ``fit()`` uses the config's thread count and the run's streams only
  while it runs, putting the caller's back when it returns or raises.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from .. import inference
from ..checkpoint import CheckpointError
from ..separator import SeparationNet
from . import state
from .config import LOSSES, TrainConfig, load_config
from .data import build_dataset, training_loader, validation_loader
from .state import (
    CHECKPOINT,
    LOSS_LOG,
    VAL_LOG,
    DeferredSignals,
    RunFolderError,
    SaveAbandoned,
    StepAbandoned,
    StopRequested,
)

if TYPE_CHECKING:
    from ..data import MixtureDataset
    from ..query.base import QueryEncoder

__all__ = ["Trainer", "train"]


class Trainer:
    """Train a :class:`~lassnet.separator.SeparationNet` with a frozen query encoder.

    Taught in chapter 7 (Training). A trainable encoder (``encoder.trainable``: the ``label``
    ablation of chapter 4) is trained too: its parameters join the optimiser as a second
    parameter group with the separator's learning rate, schedule and weight decay, count in
    the gradient-norm clipping, and are saved in the checkpoint and ``model.pt``.

    Args:
        config: a :class:`TrainConfig` (or a name / YAML path for :func:`load_config`).
        out_dir: where ``checkpoint.pt``, ``model.pt`` and the CSV logs go (created if
            missing). If it already holds a checkpoint the run resumes from it
            (``resume=False`` refuses instead). The trainer holds the folder's lock from
            construction to the end of :meth:`fit` (:func:`lassnet.train.state.open_run_folder`);
            another process cannot train there meanwhile.
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA when available).
        encoder: an already-built query encoder (else ``lassnet.query.build(config.query)``).
        progress: show a tqdm progress bar (a widget in Jupyter, text in a terminal).
        resume: continue from a checkpoint in ``out_dir``; ``False`` raises
            :class:`~lassnet.checkpoint.CheckpointError` if there is one.

    Raises ``ValueError`` for an unknown or absent device and for an ``out_dir`` that is a
    file; :class:`~lassnet.train.state.RunFolderError` (an ``OSError``) for a folder that
    cannot be written in, is too full for a checkpoint, or is in use by another run;
    :class:`~lassnet.checkpoint.CheckpointError` for a checkpoint that cannot be resumed
    (a damaged one is moved aside first, never overwritten).

    Attributes:
        model: the separator being trained; ``net`` is the module that runs the forward pass
            (``model`` itself, or its ``DistributedDataParallel`` wrapper under ``torchrun``).
        encoder: the query encoder; ``encoder_trainable``: whether it is trained with the
            separator (its ``trainable`` attribute).
        optimizer, scaler: AdamW (one parameter group, the separator's; a second one, the
            encoder's, when it is trainable) and the float16 gradient scaler (disabled
            otherwise).
        average: the run's :class:`~lassnet.train.state.WeightAverage` when ``ema_decay`` is
            set (``model.pt`` and validation use the averaged weights), else ``None``.
        step: the number of steps taken (the next step's 0-based index).
        rng: the run's random streams (:class:`lassnet.train.state.RandomStreams`).
        rank, world, distributed, device: where this process trains.
    """

    def __init__(
        self,
        config: TrainConfig | str | os.PathLike,
        out_dir: str | os.PathLike,
        *,
        device: str | torch.device | None = None,
        encoder: QueryEncoder | None = None,
        progress: bool = True,
        resume: bool = True,
    ) -> None:
        self.cfg = config if isinstance(config, TrainConfig) else load_config(config)
        self.out_dir = Path(out_dir)
        self.progress = progress
        self._setup_runtime(device)
        self._build(encoder)
        self.step = 0
        self._saved_step: int | None = None  # the step of the checkpoint on disk
        self._lock: state.RunLock | None = None
        self._hold_folder()
        try:
            if (self.out_dir / CHECKPOINT).exists():
                if not resume:
                    raise CheckpointError(
                        f"{self.out_dir / CHECKPOINT} exists; remove it, choose another "
                        "out_dir, or resume"
                    )
                self.step, self.rng = state.resume(
                    self.out_dir, model=self.model, optimizer=self.optimizer,
                    scaler=self.scaler, map_location=self.device, move_damaged=self.rank == 0,
                    encoder=self.encoder, average=self.average,
                )
                self._saved_step = self.step
        except BaseException:
            self._release_folder()
            raise
        self._set_lr(self.step)
        self.net: torch.nn.Module = (
            torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
            if self.distributed
            else self.model
        )
        self._val_data: MixtureDataset | None = None  # built on the first validate()

    # ------------------------------------------------------------ set-up
    def _setup_runtime(self, device: str | torch.device | None) -> None:
        """Where and how this process trains: the process group under ``torchrun``, this
        rank's device, and the run's random streams seeded from ``config.seed``. (The thread
        count is applied by :meth:`fit` while it runs.)"""
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() and str(device) != "cpu" else "gloo"
            dist.init_process_group(backend)
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = _check_device(device)
        if self.device.type == "cuda" and self.distributed:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            self.device = torch.device("cuda", local)
            torch.cuda.set_device(self.device)
        if self.cfg.precision == "float16" and self.device.type != "cuda":
            raise ValueError(
                f"float16 training needs a GPU, and the device is {self.device}; "
                "use precision bfloat16 on CPU"
            )
        if self.cfg.precision in ("bfloat16", "float16"):
            inference.check_precision(self.cfg.precision, self.device)  # warns once if slow
        self.rng = state.RandomStreams.seeded(self.cfg.seed)

    def _build(self, encoder: QueryEncoder | None) -> None:
        """The query encoder, the separator, the optimiser and the gradient scaler; the
        encoder and the initial weights come from the run's random streams. A trainable
        encoder moves to the training device and becomes the optimiser's second group."""
        with self.rng.active():
            if encoder is None:
                from .. import query

                encoder = query.build(self.cfg.query, **self.cfg.query_options)
            # a stand-in encoder needs only dim and embed_text (lassnet.testing.FixedQueries)
            self.encoder_trainable = bool(getattr(encoder, "trainable", False))
            if self.encoder_trainable:
                encoder = encoder.to(self.device)
            self.encoder = encoder
            self.model = SeparationNet.from_preset(
                self.cfg.preset, condition_dim=encoder.dim, **self.cfg.separator
            ).to(self.device)
        if self.cfg.init_from:  # fine-tuning: start from weights trained elsewhere
            _load_initial_weights(self.model, self.cfg.init_from)
        if self.cfg.channels_last:  # the same maths with NHWC activations (faster convs)
            self.model = self.model.to(memory_format=torch.channels_last)
        self.sample_rate = self.model.config.sample_rate
        groups = [{"params": list(self.model.parameters())}]
        if self.encoder_trainable:  # the label ablation: its table learns with the separator
            groups.append({"params": self.trained_encoder_parameters()})
        self.optimizer = torch.optim.AdamW(
            groups, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay, amsgrad=self.cfg.amsgrad,
        )
        self.precision = self._precision()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "float16")
        # weight averaging (ema_decay > 0): model.pt and validation use the average
        self.average = (state.WeightAverage(self.model, self.cfg.ema_decay)
                        if self.cfg.ema_decay else None)

    def trained_encoder_parameters(self) -> list[torch.nn.Parameter]:
        """The encoder's parameters the optimiser updates: all of a trainable encoder's
        (those that require gradients), none of a frozen one's."""
        if not self.encoder_trainable:
            return []
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def _trained_parameters(self) -> list[torch.nn.Parameter]:
        """Every parameter the optimiser updates: the separator's, then a trainable
        encoder's (what gradient clipping measures)."""
        return list(self.model.parameters()) + self.trained_encoder_parameters()

    def _precision(self) -> str:
        """The config's precision, with ``auto`` answered: by the checkpoint of a run being
        resumed (so a resumed run computes as it did before), else by
        :func:`lassnet.inference.training_precision` for this device."""
        if self.cfg.precision != "auto":
            return self.cfg.precision
        recorded = state.recorded_precision(self.out_dir)
        if recorded is not None:
            return recorded
        return inference.training_precision(self.model, self.device)

    @contextlib.contextmanager
    def _runtime(self) -> Iterator[None]:
        """The config's thread count and the run's random streams for the block; the
        caller's come back when it ends, however it ends."""
        threads = torch.get_num_threads()
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        try:
            with self.rng.active():
                yield
        finally:
            torch.set_num_threads(threads)

    # ------------------------------------------------------------ the run folder
    def _hold_folder(self) -> None:
        """Take the run folder (rank 0 only: it writes; the others read)."""
        if self.rank != 0 or self._lock is not None:
            return
        need = state.checkpoint_bytes(self.model, self.optimizer)
        self._lock = state.open_run_folder(self.out_dir, need_bytes=need)
        self._unlock = weakref.finalize(self, self._lock.release)  # if never fitted

    def _release_folder(self) -> None:
        if self._lock is not None:
            self._unlock()
            self._lock = None

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Turn a failure to write ``what`` (a full disk, a read-only folder) into one
        :class:`RunFolderError` that names the reason and what is kept."""
        try:
            yield
        except RunFolderError:
            raise
        except OSError as err:
            kept = (f"the checkpoint of step {self._saved_step} is kept; make room (or fix the "
                    "folder) and run again to resume" if self._saved_step is not None else
                    "no checkpoint was written yet; make room (or fix the folder) and run again")
            raise RunFolderError(
                f"cannot write {what} in {self.out_dir}: {state.describe_os_error(err)}; {kept}",
                err.errno,
            ) from None

    # ------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> None:
        """Atomically write ``checkpoint.pt`` (full state) and ``model.pt`` (for inference)
        into ``out_dir`` (rank 0 writes; every rank waits for it)."""
        if self.rank == 0:
            state.save(self.out_dir, state.payload(
                step=self.step, config=self.cfg, model=self.model, optimizer=self.optimizer,
                scaler=self.scaler, rng=self.rng, precision=self.precision,
                encoder=self.encoder, average=self.average,
            ))
        if self.distributed:
            dist.barrier()

    def _checkpoint(self, signals: DeferredSignals, *, stopping: bool = False) -> None:
        """:meth:`save_checkpoint` with Ctrl-C / SIGTERM held until the files are written; a
        second signal abandons the write (:class:`SaveAbandoned`: the previous files stay)."""
        signals.abandoned = False
        try:
            with signals.held(stopping=stopping), self._writing(f"the checkpoint of step "
                                                                 f"{self.step}"):
                self.save_checkpoint()
        except BaseException:
            if signals.abandoned:  # whatever the interrupted writer raised
                raise SaveAbandoned() from None
            raise
        self._saved_step = self.step

    # ------------------------------------------------------------ one step
    def _set_lr(self, step: int) -> None:
        """The schedule: step ``step`` runs at ``config.lr · config.lr_factor(step)``."""
        lr = self.cfg.lr * self.cfg.lr_factor(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _conditions(self, batch: dict[str, Any], step: int) -> torch.Tensor:
        """Query embeddings ``(B, D)`` of a training step, with ``query_noise`` added
        (:meth:`_noisy`)."""
        cond = self._clean_conditions(batch, step)
        return self._noisy(cond, step) if self.cfg.query_noise else cond

    def _step_generator(self, step: int, salt: int = 0) -> torch.Generator:
        """A CPU generator seeded from the config's seed and ``step`` (and ``salt``, one per
        use): a step's random draws are the same in a resumed run."""
        return torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step + salt)

    def _noisy(self, cond: torch.Tensor, step: int) -> torch.Tensor:
        """``query_noise`` σ: every embedding ``e`` of the batch becomes
        ``(e + σ·n)·‖e‖/‖e + σ·n‖`` with ``n ~ N(0, ‖e‖²·I/D)`` (a random direction about as
        long as ``e``, drawn from the step and the seed, so a resumed run draws the same): the
        same length, at cosine about ``1/√(1 + σ²)`` to ``e``. The separator learns to answer
        a neighbourhood of each training caption rather than the point, as a paraphrase or
        an audio query lands near, not on, the captions it was trained with."""
        gen = self._step_generator(step, salt=7_919)
        n = torch.randn(cond.shape, generator=gen).to(cond) / math.sqrt(cond.shape[-1])
        moved = cond + self.cfg.query_noise * n * cond.norm(dim=-1, keepdim=True)
        return moved * (cond.norm(dim=-1, keepdim=True)
                        / moved.norm(dim=-1, keepdim=True).clamp_min(1e-12))

    def _clean_conditions(self, batch: dict[str, Any], step: int) -> torch.Tensor:
        """Query embeddings ``(B, D)``: the captions', or, when ``use_text_ratio < 1``, audio
        embeddings for some of them.

        ``audio_query: same_class`` (lassnet's): each example independently, with probability
        ``1 − use_text_ratio`` (drawn from the step and the seed), uses another clip of its
        target's class. ``audio_query: target`` (AudioSep's hybrid mode): the query is the
        target segment itself; with AudioSep's batch mixer the whole batch switches at once, as
        its ``get_query_embed`` decides per batch (the collate's ``audio_query`` draw)."""
        captions = batch["caption"]
        if self.cfg.use_text_ratio >= 1.0:
            return self.encoder.embed_text(captions).to(self.device)  # (B, D)
        if "audio_query" in batch:  # AudioSep's batch mixer: one decision for the batch
            use_audio = torch.full((len(captions),), bool(batch["audio_query"]))
        else:
            gen = self._step_generator(step)
            use_audio = torch.rand(len(captions), generator=gen) >= self.cfg.use_text_ratio
        if use_audio.all():
            cond = None
        else:
            cond = self.encoder.embed_text(captions).to(self.device)  # (B, D)
        if use_audio.any():
            key = "target" if self.cfg.audio_query == "target" else "query_wave"
            clips = batch[key][use_audio]  # (b, 1, L)
            audio = self.encoder.embed_audio(clips[:, 0], self.sample_rate).to(self.device)
            if cond is None:
                return audio
            cond = cond.clone()
            cond[use_audio.to(self.device)] = audio  # (B, D)
        return cond

    def _autocast(self) -> torch.autocast:
        if self.precision == "float32":
            return torch.autocast(self.device.type, enabled=False)
        dtype = torch.bfloat16 if self.precision == "bfloat16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def train_step(self, batch: dict[str, Any]) -> float:
        """One optimisation step on a collated batch; returns the loss. A trainable encoder
        embeds the captions with gradients and is updated by the same step."""
        self.net.train()
        if self.encoder_trainable:
            self.encoder.train()
        mixture = batch["mixture"].to(self.device)  # (B, 1, L)
        target = batch["target"].to(self.device)  # (B, 1, L)
        cond = self._conditions(batch, self.step)  # (B, D)
        with self._autocast():
            estimate = self.net(mixture, cond)  # (B, 1, L)
        loss = LOSSES[self.cfg.loss](estimate.float(), target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.distributed:  # DDP averages the separator's gradients; the encoder's here
            self._average_encoder_gradients()
        if self.cfg.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self._trained_parameters(), self.cfg.grad_clip)
        self._set_lr(self.step)  # lr · lr_factor(step)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.average is not None:
            self.average.update(self.model)
        self.step += 1
        return float(loss.detach())

    def _average_encoder_gradients(self) -> None:
        """Average a trainable encoder's gradients over the ranks (DDP wraps only the
        separator), so every rank applies the same update to the same table."""
        for p in self.trained_encoder_parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)
            p.grad /= self.world

    # ------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean SDRi and SI-SDRi (dB) on a fixed set of ``val_size`` validation mixtures, of
        the weights ``model.pt`` holds (the average, when the run averages)."""
        import copy

        from ..metrics import sdri, si_sdri

        if self._val_data is None:
            self._val_data = build_dataset(
                self.cfg, self.sample_rate, "validation", self.cfg.val_size, seed=12345
            )
        model = self.model
        if self.average is not None:
            model = self.average.copy_to(copy.deepcopy(self.model))
        was_training = self.model.training
        model.eval()
        if self.encoder_trainable:
            self.encoder.eval()
        sd, si = [], []
        for batch in validation_loader(self._val_data, self.cfg.batch_size):
            mixture = batch["mixture"].to(self.device)  # (B, 1, L)
            target = batch["target"].to(self.device)  # (B, 1, L)
            cond = self.encoder.embed_text(batch["caption"]).to(self.device)  # (B, D)
            est = model(mixture, cond)  # (B, 1, L)
            sd.append(sdri(est, target, mixture).flatten().cpu())  # (B,)
            si.append(si_sdri(est, target, mixture).flatten().cpu())  # (B,)
        self.model.train(was_training)
        return {"sdri": float(torch.cat(sd).mean()), "si_sdri": float(torch.cat(si).mean())}

    # ------------------------------------------------------------ the loop
    def fit(self) -> dict[str, Any]:
        """Train until ``config.steps``; returns a summary: ``steps`` (now), ``new_steps``
        (this call), ``seconds``, ``final_loss`` and ``out_dir``.

        Ctrl-C or SIGTERM saves a checkpoint and raises ``KeyboardInterrupt``; one that
        arrives during a step or a checkpoint write waits for it to end, a second one stops at
        once and keeps the previous checkpoint. A failure to write (a full disk) raises
        :class:`~lassnet.train.state.RunFolderError`, the previous checkpoint intact. The
        thread count and the random state are the caller's again afterwards, and the run
        folder's lock is released, however it ends.
        """
        cfg = self.cfg
        self._hold_folder()  # again, for a second fit()
        start_step, t0 = self.step, time.perf_counter()
        losses: list[float] = []
        bar = None
        if self.progress and self.rank == 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, desc=f"training {cfg.name}",
                       unit="step", dynamic_ncols=True)
        signals = DeferredSignals()
        signals.install()
        try:
            with self._runtime():
                loader = training_loader(cfg, self.sample_rate, self.step, self.rank, self.world,
                                         device=self.device,
                                         progress=self.progress and self.rank == 0)
                self._loop(loader, signals, losses, bar, t0)
        except StepAbandoned:
            if bar is not None:
                bar.write(f"stopped in the middle of step {self.step + 1}; the last checkpoint in "
                          f"{self.out_dir} is kept; run again to resume from it")
            raise KeyboardInterrupt from None
        except SaveAbandoned:
            if bar is not None:
                bar.write(f"stopped while writing the checkpoint of step {self.step}; the last "
                          f"complete checkpoint in {self.out_dir} is kept; run again to resume "
                          "from it")
            raise KeyboardInterrupt from None
        finally:
            if bar is not None:
                bar.close()
            signals.restore()
            self._release_folder()
        return {
            "steps": self.step,
            "new_steps": self.step - start_step,
            "seconds": time.perf_counter() - t0,
            "final_loss": losses[-1] if losses else math.nan,
            "out_dir": str(self.out_dir),
        }

    def _loop(self, loader, signals: DeferredSignals, losses: list[float], bar,
              t0: float) -> None:
        """The steps of :meth:`fit`, each with its logs, validation and checkpoint, with
        signals held (:class:`DeferredSignals`); a stop request saves a checkpoint (unless
        the step just wrote one) and raises ``KeyboardInterrupt``."""
        try:
            for batch in loader:
                before = self.step
                try:
                    with signals.held():
                        loss = self.train_step(batch)
                        self._after_step(loss, losses, bar, t0, signals)
                except (KeyboardInterrupt, StopRequested):  # a second signal
                    if self.step == before:  # stopped inside the step: its state may be torn
                        raise StepAbandoned() from None
                    raise
                if signals.pending:  # Ctrl-C / SIGTERM arrived during the step
                    raise StopRequested()
        except (KeyboardInterrupt, StopRequested):
            if self._saved_step != self.step:
                self._checkpoint(signals, stopping=True)
            if bar is not None:
                bar.write(f"interrupted: checkpoint saved at step {self.step} in {self.out_dir}; "
                          "run again to resume")
            raise KeyboardInterrupt from None

    def _after_step(self, loss: float, losses: list[float], bar, t0: float,
                    signals: DeferredSignals) -> None:
        """A step's bookkeeping: progress, the loss log, validation, the checkpoint."""
        cfg = self.cfg
        losses.append(loss)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
        last = self.step == cfg.steps
        if self.rank == 0 and (self.step % cfg.log_every == 0 or last):
            recent = losses[-cfg.log_every:]
            with self._writing("the training log"):
                state.append_log(self.out_dir / LOSS_LOG, dict(
                    step=self.step, loss=sum(recent) / len(recent),
                    lr=self.optimizer.param_groups[0]["lr"],  # the lr of the last step
                    seconds=round(time.perf_counter() - t0, 3)))
        if self.step % cfg.validate_every == 0 or last:
            scores = self.validate()
            if self.rank == 0:
                with self._writing("the validation log"):
                    state.append_log(self.out_dir / VAL_LOG, dict(step=self.step, **scores))
                if bar is not None:
                    bar.set_postfix(loss=f"{loss:.4f}",
                                    val_si_sdri=f"{scores['si_sdri']:.1f} dB")
        if self.step % cfg.checkpoint_every == 0 or last:
            self._checkpoint(signals)


def _check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``; ``ValueError`` for a name torch does not know and
    for a GPU this machine does not have."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"unknown device {str(device)!r}; use cpu, cuda or cuda:N"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} was asked for, but CUDA is not available "
                             "here; use cpu")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device {str(device)!r} does not exist: this machine has {count} "
                             f"GPU(s), cuda:0 to cuda:{count - 1}")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(device)!r} was asked for, but MPS is not available here")
    return dev


def train(
    config: TrainConfig | str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    device: str | torch.device | None = None,
    encoder: QueryEncoder | None = None,
    progress: bool = True,
    resume: bool = True,
) -> dict[str, Any]:
    """Build a :class:`Trainer` and run it to ``config.steps``; returns :meth:`Trainer.fit`'s
    summary. The arguments are :class:`Trainer`'s. Taught in chapter 7 (Training)."""
    return Trainer(config, out_dir, device=device, encoder=encoder, progress=progress,
                   resume=resume).fit()


def _load_initial_weights(model: SeparationNet, path: str) -> None:
    """Fill ``model`` from ``path``: a lassnet model or separator file, or an AudioSep
    Lightning checkpoint (``.ckpt``: converted by :func:`lassnet.audiosep.load_audiosep`).
    Raises :class:`CheckpointError` in one line when the file is not one of these or holds
    another network (the message names what differs)."""
    from .. import checkpoint

    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"init_from: {source} is not a file")
    if source.suffix == ".ckpt":
        from ..audiosep import load_audiosep

        net, _ = load_audiosep(source)
        state = net.state_dict()
    else:
        contents = checkpoint.load(source, ("model", "separator", "train"))
        state = contents["state_dict"]
    checkpoint.load_state(model, state, f"init_from {source}")

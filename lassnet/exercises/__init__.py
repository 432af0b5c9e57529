"""Automatic checks for the book's exercises (classroom use; see the book's course guide).

Every exercise asks for one small function that the library already has. Its checker runs the
student's function on random and edge-case inputs (odd lengths, a batch of one, silence, ...)
next to the library's own function, prints ``PASS`` or ``FAIL`` with a hint that names what
is wrong (a shape, a scale, a sign, a phase that was not rotated, a NaN on silence, ...)
without giving the solution away, and returns a :class:`CheckResult`, which is true when every
case agreed. A checker never raises because of the student's code: an exception, including
the ``NotImplementedError`` of an unsolved stub, becomes a ``FAIL`` that names it.

==================  ======================  =======  ==========================================
checker             the student writes      chapter  compared with (cases in)
==================  ======================  =======  ==========================================
stft_split          ``split_magphase``      1        ``STFT.magphase`` (:mod:`.stft`)
residual_block      ``residual_forward``    2        ``ResidualBlock`` (:mod:`.blocks`)
film                ``film_forward``        3        ``FiLM`` + batch norm (:mod:`.film`)
apply_masks         ``rotate_and_mask``     5        ``masks.apply_masks`` (:mod:`.masks`)
ratio_mask          ``ratio_mask``          5        ``masks.ideal_ratio_mask`` (:mod:`.masks`)
si_sdr              ``si_sdr_db``           8 (ex.)  ``metrics.si_sdr`` (:mod:`.metrics`)
si_sdri             ``si_sdr_improvement``  8 (ex.)  ``metrics.si_sdri`` (:mod:`.metrics`)
mix_at_snr          ``mix_at_snr``          6 (ex.)  ``audio.mix_at_snr`` (:mod:`.data`)
train_step          ``train_step``          7 (ex.)  ``Trainer.train_step`` (:mod:`.train`)
==================  ======================  =======  ==========================================

"(ex.)": on the book's exercises page. How a function is checked is in one short module per
chapter (the table's last column); the grading machinery they share (running the cases,
comparing outputs, turning typical mistakes into hints) is in ``_runner.py``.

Use in a notebook::

    from lassnet.exercises import check_stft_split
    result = check_stft_split(split_magphase)     # prints PASS or FAIL with a hint

and in a test, silently: ``assert check_stft_split(split_magphase, progress=False)``
(``progress``, as everywhere in lassnet, switches the feedback printed as the work goes on:
here the PASS / FAIL line). :data:`EXERCISES`
lists every exercise with the function it expects and the stub hint of the student version
(``tools/exercises.py`` writes the student and teacher notebooks from the chapters).
"""

from __future__ import annotations

from ._runner import CheckResult, Exercise, Withhold
from .blocks import RECEPTIVE_FIELD, RESIDUAL_BLOCK, check_receptive_field, check_residual_block
from .data import MIX_AT_SNR, MIX_MANY, check_mix_at_snr, check_mix_many
from .film import FILM, STEER, check_film, check_steer
from .masks import (
    APPLY_MASKS,
    HARMONIC_MASK,
    RATIO_MASK,
    check_apply_masks,
    check_harmonic_mask,
    check_ratio_mask,
)
from .metrics import PAIRED, SI_SDR, SI_SDRI, check_paired, check_si_sdr, check_si_sdri
from .query import ENSEMBLE, RETRIEVE, check_ensemble, check_retrieve
from .stft import CHOOSE_N_FFT, STFT_SPLIT, check_choose_n_fft, check_stft_split
from .train import ACCUMULATE, TRAIN_STEP, check_accumulate, check_train_step

__all__ = [
    "CheckResult",
    "Exercise",
    "Withhold",
    "EXERCISES",
    "check",
    "check_stft_split",
    "check_residual_block",
    "check_film",
    "check_apply_masks",
    "check_ratio_mask",
    "check_si_sdr",
    "check_si_sdri",
    "check_mix_at_snr",
    "check_train_step",
    "check_choose_n_fft",
    "check_receptive_field",
    "check_steer",
    "check_retrieve",
    "check_ensemble",
    "check_harmonic_mask",
    "check_mix_many",
    "check_accumulate",
    "check_paired",
]

#: Every exercise by name, chapter by chapter: each chapter's transcribe exercise(s), then its
#: apply exercise.
EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in [STFT_SPLIT, CHOOSE_N_FFT, RESIDUAL_BLOCK, RECEPTIVE_FIELD, FILM, STEER, RETRIEVE,
              ENSEMBLE, APPLY_MASKS, RATIO_MASK, HARMONIC_MASK, MIX_AT_SNR, MIX_MANY, TRAIN_STEP,
              ACCUMULATE, SI_SDR, SI_SDRI, PAIRED]
}


def check(name: str, fn, progress: bool = True) -> CheckResult:
    """Run the checker of exercise ``name`` (a key of :data:`EXERCISES`) on ``fn``."""
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; choose from {sorted(EXERCISES)}")
    return EXERCISES[name].checker(fn, progress=progress)

"""Automatic checks for the book's exercises (classroom use; see the book's course guide).

Every chapter has a *transcribe* exercise (a small function that the library already has; the
checker runs the student's function on random and edge-case inputs next to the library's own)
and an *apply* exercise (the idea used on a new case; the checker *measures* the answer: a
resolution, an SI-SDR improvement, an update, an interval). A checker prints ``PASS`` or
``FAIL`` with a hint that names what is wrong (a shape, a scale, a sign, a phase that was not
rotated, a NaN on silence, a window too long for the clicks, ...) without giving the solution
away, and returns a :class:`CheckResult`, which is true when every case passed. A checker never
raises because of the student's code: an exception, including the ``NotImplementedError`` of an
unsolved stub, becomes a ``FAIL`` that names it. While the student's function runs, what the
exercise is checked against refuses to run (:class:`Withhold`, ``_runner.py``): calling
``lassnet.metrics.si_sdr`` inside an SI-SDR answer is a ``FAIL ... write it yourself``.

======================  ===============================  ===  ==========  ======================
checker                 the student writes               ch.  kind        module
======================  ===============================  ===  ==========  ======================
stft_split              ``split_magphase``               1    transcribe  :mod:`.stft`
choose_n_fft            ``choose_n_fft``                 1    apply       :mod:`.stft`
residual_block          ``residual_forward``             2    transcribe  :mod:`.blocks`
receptive_field         ``receptive_field_frames``       2    apply       :mod:`.blocks`
film                    ``film_forward``                 3    transcribe  :mod:`.film`
steer                   ``strongest_query``              3    apply       :mod:`.film`
retrieve                ``retrieve``                     4    transcribe  :mod:`.query`
ensemble                ``ensemble_prototypes``          4    apply       :mod:`.query`
apply_masks             ``rotate_and_mask``              5    transcribe  :mod:`.masks`
ratio_mask              ``ratio_mask``                   5    transcribe  :mod:`.masks`
harmonic_mask           ``harmonic_mask``                5    apply       :mod:`.masks`
mix_at_snr              ``mix_at_snr``                   6    transcribe  :mod:`.data`
mix_many                ``mix_many``                     6    apply       :mod:`.data`
train_step              ``train_step``                   7    transcribe  :mod:`.train`
accumulate              ``accumulated_step``             7    apply       :mod:`.train`
si_sdr                  ``si_sdr_db``                    8    transcribe  :mod:`.metrics`
si_sdri                 ``si_sdr_improvement``           8    transcribe  :mod:`.metrics`
paired                  ``paired_difference``            8    apply       :mod:`.metrics`
======================  ===============================  ===  ==========  ======================

The transcribe exercises of chapters 1, 2, 3 and 5 are at the end of their chapters; all the
others are on the book's exercises page (:attr:`Exercise.chapter` names the page,
:attr:`Exercise.teaches` the chapter). How a function is checked is in one short module per
chapter (the table's last column); the grading machinery they share (running the cases,
comparing outputs, turning typical mistakes into hints, withholding references) is in
``_runner.py``.

Use in a notebook::

    from lassnet.exercises import check_stft_split
    result = check_stft_split(split_magphase)     # prints PASS or FAIL with a hint

and in a test, silently: ``assert check_stft_split(split_magphase, progress=False)``
(``progress``, as everywhere in lassnet, switches the feedback printed as the work goes on:
here the PASS / FAIL line). :data:`EXERCISES`
lists every exercise with the function it expects and the stub hint of the student version
(``tools/exercises.py`` writes the student and teacher notebooks and the nbgrader course).
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

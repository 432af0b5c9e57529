"""Data for language-queried separation (taught in chapter 6, "Data").

======================  ==================================================================
:mod:`.synthetic`       the synthetic sound-event corpus: :data:`CLASSES`, :data:`CAPTIONS`,
                        :func:`synthesize`, :class:`SyntheticClips`, :func:`class_table`,
                        :func:`write_examples`
:mod:`.mixtures`        :class:`MixtureDataset` (lassnet's mixing), :class:`SegmentDataset` and
                        :class:`AudioSepMixer` (AudioSep's released mixing),
                        :func:`evaluation_mixtures`, :func:`describe_mixture`,
                        :func:`reference_for`, :func:`collate`
:mod:`.augment`         :class:`ClipAugment`: random pitch/tempo, equaliser, room and noise
                        floor for training clips
:mod:`.outofrecipe`     a test-only second synthesiser of the same classes:
                        :class:`OutOfRecipeClips`, :func:`synthesize_out_of_recipe`,
                        :data:`OUT_OF_RECIPE_CAPTIONS`
:mod:`.datasets`        real recordings: :class:`ESC50`, :class:`FolderDataset`;
                        :func:`clip_source` picks a source by name
:mod:`.download`        :func:`download` (cached, checksummed, atomic), :func:`extract`
:mod:`.base`            the clip-source protocol every clip collection follows
:mod:`.cache`           :class:`RenderedClips`: a clip source rendered once into a
                        memory-mapped, checksummed file (data fast enough for a GPU)
======================  ==================================================================
"""

from .augment import ClipAugment
from .base import ClipSource, LabelledClips
from .cache import RenderedClips, cache_key, rendered_bytes
from .datasets import (
    AUDIO_EXTENSIONS,
    ESC50,
    ESC50_SHA256,
    ESC50_SPLIT_FOLDS,
    ESC50_URL,
    FileClips,
    FolderDataset,
    clip_source,
)
from .download import DownloadError, cache_dir, download, extract, sha256sum
from .mixtures import (
    AudioSepCollate,
    AudioSepMixer,
    MixtureDataset,
    SegmentDataset,
    audiosep_energy_ratio,
    collate,
    describe_mixture,
    evaluation_mixtures,
    reference_for,
)
from .outofrecipe import (
    OUT_OF_RECIPE_CAPTIONS,
    OUT_OF_RECIPE_DESCRIPTIONS,
    OutOfRecipeClips,
    out_of_recipe_caption,
    out_of_recipe_seed,
    synthesize_out_of_recipe,
)
from .synthetic import (
    CAPTIONS,
    CLASSES,
    DEFAULT_DURATION,
    DESCRIPTIONS,
    SPLITS,
    ClassTable,
    SyntheticClips,
    class_table,
    clip_caption,
    clip_seed,
    corpus_examples,
    synthesize,
    write_examples,
)

__all__ = [
    "ClipAugment",
    "AUDIO_EXTENSIONS",
    "CAPTIONS",
    "CLASSES",
    "DEFAULT_DURATION",
    "DESCRIPTIONS",
    "ESC50",
    "AudioSepMixer",
    "AudioSepCollate",
    "SegmentDataset",
    "audiosep_energy_ratio",
    "ESC50_SHA256",
    "ESC50_SPLIT_FOLDS",
    "ESC50_URL",
    "SPLITS",
    "ClassTable",
    "ClipSource",
    "DownloadError",
    "FileClips",
    "FolderDataset",
    "LabelledClips",
    "MixtureDataset",
    "RenderedClips",
    "OUT_OF_RECIPE_CAPTIONS",
    "OUT_OF_RECIPE_DESCRIPTIONS",
    "OutOfRecipeClips",
    "SyntheticClips",
    "cache_dir",
    "cache_key",
    "class_table",
    "clip_caption",
    "clip_source",
    "clip_seed",
    "corpus_examples",
    "collate",
    "describe_mixture",
    "download",
    "evaluation_mixtures",
    "extract",
    "out_of_recipe_caption",
    "out_of_recipe_seed",
    "reference_for",
    "rendered_bytes",
    "sha256sum",
    "synthesize",
    "synthesize_out_of_recipe",
    "write_examples",
]

"""lassnet: language-queried audio source separation, as in "Separate Anything You Describe".

The package mirrors the book: one module per idea, in teaching order.

=========================  ===============================================  =========
module                     holds                                            chapter
=========================  ===============================================  =========
:mod:`lassnet.audio`       loading, resampling, mixing, checks              6
:mod:`lassnet.stft`        STFT / iSTFT as a module                         1
:mod:`lassnet.blocks`      residual, encoder and decoder blocks             2
:mod:`lassnet.film`        FiLM conditioning                                3
:mod:`lassnet.query`       query encoders (MiniLM, CLAP, audio)             4
:mod:`lassnet.masks`       magnitude/phase masks and oracle masks           5
:mod:`lassnet.separator`   ``SeparationNet`` and its presets                2-5
:mod:`lassnet.introspect`  shapes, receptive field, feature maps            2-3
:mod:`lassnet.plot`        spectrogram and corpus figures                   1-8
:mod:`lassnet.model`       ``LASSModel``: query encoder + separator         0, 7-8
:mod:`lassnet.train`       training loop, configs, checkpoints              7
:mod:`lassnet.evaluate`    the evaluation protocol                          8
:mod:`lassnet.data`        synthetic corpus, mixtures, real datasets        6
:mod:`lassnet.metrics`     SDR, SI-SDR and improvements                     8
=========================  ===============================================  =========
"""

__version__ = "0.1.0"

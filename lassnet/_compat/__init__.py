"""Workarounds for upstream packages, kept apart from the code a reader comes for.

Each module here works around one third-party package's behaviour that lassnet cannot change,
says why, and says when the workaround can go. Nothing here is taught; the classes that need a
workaround import it from here.

=================================  ==========================================================
:mod:`lassnet._compat.laion_clap`  import laion-clap's ``clap_module`` without its
                                   ``__init__`` (which fetches tokenizers from the hub);
                                   switch the Hugging Face libraries offline in a running
                                   program. Used by :mod:`lassnet.query.clap`.
=================================  ==========================================================
"""

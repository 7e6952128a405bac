"""Resumable file jobs: a complaint log in, a processed file out.

- :mod:`batch.classify` - ``hotline classify`` (:func:`~batch.classify.classify_log`).
- :mod:`batch.progress` - what makes a job resumable: progress files, commits, truncation.
- :mod:`batch.preprocess` - ``hotline preprocess``: the canonical, masked log with keywords.

Jobs read and write through :mod:`ingest` and classify with :mod:`nlp`; neither imports this.
"""

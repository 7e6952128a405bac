"""Complaint-log files: reading them, and writing what the jobs make of them.

Hotline systems export CSV (often GBK from Excel or a government platform), JSON lines, XLSX
and Parquet, with English or Chinese headers.

- :mod:`ingest.formats` - file formats from the extension, compression, text encodings.
- :mod:`ingest.options` - how a log is read: header mapping onto the canonical columns
  (:class:`~ingest.options.ColumnMap`) and :class:`~ingest.options.ReaderOptions`.
- :mod:`ingest.times` - lenient timestamp parsing.
- :mod:`ingest.readers` - :class:`~ingest.readers.ComplaintReader`, chunked and canonical.
- :mod:`ingest.rejects` - rows that cannot be used, written with the reason.
- :mod:`ingest.masking` - personal data and spreadsheet formulas in output columns.
- :mod:`ingest.writers` - CSV/TSV/JSONL/XLSX/Parquet outputs.

It imports :mod:`nlp` (normalising, PII masking) and :mod:`common`; :mod:`nlp` never imports it.
"""

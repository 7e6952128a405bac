"""Preprocess a complaint log: normalise, mask personal data, extract keywords, report.

This is the first step of every pipeline and the one operators run on a fresh export to see
what it holds before anything is trained on it.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from common.files import atomic_write_json
from ingest.masking import check_keep_raw, mask_columns
from ingest.options import ReaderOptions, parse_column_list
from ingest.readers import ComplaintReader, count_rows
from ingest.rejects import RejectsWriter
from ingest.writers import TableWriter
from nlp.pii import count_pii, mask_pii
from nlp.segment import TfidfKeywords, textrank_keywords
from nlp.text import join_title_text

logger = logging.getLogger(__name__)


@dataclass
class PreprocessReport:
    input: str
    output: str
    rejects: str | None
    encoding: str | None
    columns: dict[str, str | None]
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)
    pii_masked: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    districts: dict[str, int] = field(default_factory=dict)
    time_min: str | None = None
    time_max: str | None = None
    top_keywords: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        lines = [
            f"input:     {self.input} (encoding {self.encoding or 'n/a'})",
            "columns:   " + ", ".join(f"{k}={v}" for k, v in self.columns.items() if v),
            f"rows:      {self.rows_read} read, {self.rows_written} written, {self.rows_rejected} rejected",
        ]
        if self.reject_reasons:
            lines.append("rejects:   " + ", ".join(f"{k} ×{v}" for k, v in self.reject_reasons.items()))
            lines.append(f"           -> {self.rejects}")
        if self.pii_masked:
            lines.append("masked:    " + ", ".join(f"{k} ×{v}" for k, v in sorted(self.pii_masked.items())))
        if self.time_min:
            lines.append(f"time:      {self.time_min} .. {self.time_max}")
        if self.labels:
            lines.append("labels:    " + ", ".join(f"{k} {v}" for k, v in self.labels.items()))
        if self.districts:
            lines.append("districts: " + ", ".join(f"{k} {v}" for k, v in list(self.districts.items())[:10]))
        if self.top_keywords:
            lines.append("keywords:  " + " ".join(w for w, _ in self.top_keywords))
        lines.append(f"output:    {self.output}")
        return "\n".join(lines)


def preprocess_log(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    options: ReaderOptions | None = None,
    *,
    rejects_path: str | os.PathLike[str] | None = None,
    keywords: int = 5,
    keyword_method: str = "tfidf",
    keep_raw_columns: str | tuple[str, ...] = (),
    formula_guard: bool = True,
) -> PreprocessReport:
    """Write the canonical, masked form of a log with per-row keywords; return a report.

    ``keyword_method`` is ``"tfidf"`` (document frequencies learned on this log: two passes over
    the file) or ``"textrank"`` (per text, one pass). Every text column of the output (id,
    district and label too) is PII-masked except the canonical columns named in
    ``keep_raw_columns``; the district and label counts in the report come from the masked
    values. ``formula_guard`` neutralises spreadsheet formulas in CSV/XLSX output and rejects.
    """
    if keyword_method not in ("tfidf", "textrank"):
        raise ValueError(f"keyword_method must be 'tfidf' or 'textrank', got {keyword_method!r}")
    keep_raw = parse_column_list(keep_raw_columns)
    if keep_raw:
        logger.warning(
            "keeping column(s) %s unmasked in %s (--keep-raw-columns): personal data in them is "
            "written as is",
            ", ".join(keep_raw),
            output_path,
        )
    # Count PII before masking, so the reader must hand over unmasked text; we mask here.
    opts = (options or ReaderOptions()).replace(mask=False)
    rejects = RejectsWriter(rejects_path, formula_guard=formula_guard)
    total = count_rows(input_path, opts.encoding)

    tfidf: TfidfKeywords | None = None
    if keywords and keyword_method == "tfidf":
        tfidf = TfidfKeywords()
        for chunk in ComplaintReader(input_path, opts.replace(mask=True)):
            tfidf.partial_fit(
                join_title_text(t, x) for t, x in zip(chunk.records.title, chunk.records.text, strict=True)
            )

    reader = ComplaintReader(input_path, opts, rejects=rejects)
    pii: Counter[str] = Counter()
    labels: Counter[str] = Counter()
    districts: Counter[str] = Counter()
    corpus_terms: Counter[str] = Counter()
    tmin: pd.Timestamp | None = None
    tmax: pd.Timestamp | None = None
    with (
        TableWriter(output_path, formula_guard=formula_guard) as writer,
        tqdm(total=total, unit="row", desc="preprocess", disable=None) as bar,
    ):
        for chunk in reader:
            rec = chunk.records.copy()
            if writer.rows == 0:
                check_keep_raw(keep_raw, rec.columns, path=input_path)
            for col in ("title", "text"):
                for counts in rec[col].map(count_pii):
                    pii.update(counts)
                if col not in keep_raw:
                    rec[col] = rec[col].map(mask_pii)
            rec = mask_columns(rec, (*keep_raw, "title", "text"))
            if keywords:
                joined = [join_title_text(t, x) for t, x in zip(rec.title, rec.text, strict=True)]
                kws = [
                    tfidf.keywords(t, keywords) if tfidf is not None else textrank_keywords(t, keywords)
                    for t in joined
                ]
                rec["keywords"] = [" ".join(w for w, _ in k) for k in kws]
                for k in kws:
                    corpus_terms.update(w for w, _ in k)
            labels.update(v for v in rec.label if v)
            districts.update(v for v in rec.district if v)
            times = rec.time.dropna()
            if len(times):
                tmin = times.min() if tmin is None else min(tmin, times.min())
                tmax = times.max() if tmax is None else max(tmax, times.max())
            writer.write(rec)
            bar.update(reader.rows_read - bar.n)
        rows_written = writer.rows
    rejects.close()
    report = PreprocessReport(
        input=str(input_path),
        output=str(output_path),
        rejects=str(rejects.path) if rejects.count else None,
        encoding=reader.encoding,
        columns=dict(reader.mapping),
        rows_read=reader.rows_read,
        rows_written=rows_written,
        rows_rejected=reader.rows_rejected,
        reject_reasons=dict(rejects.reasons),
        pii_masked=dict(pii),
        labels=dict(labels.most_common()),
        districts=dict(districts.most_common()),
        time_min=str(tmin) if tmin is not None else None,
        time_max=str(tmax) if tmax is not None else None,
        top_keywords=[(w, float(c)) for w, c in corpus_terms.most_common(15)],
    )
    logger.info(
        "preprocessed %s: %d rows written, %d rejected", input_path, rows_written, reader.rows_rejected
    )
    return report


def write_report(report: PreprocessReport, path: str | os.PathLike[str]) -> Path:
    return atomic_write_json(path, report.to_dict())

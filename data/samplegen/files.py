"""The sample files as text (CSV, JSON lines, the GBK export, the malformed log) and the jieba
user dictionary.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence

from data.samplegen.personal import ZERO_WIDTH
from data.samplegen.places import gazetteer_names
from data.samplegen.rows import Row
from data.samplegen.settings import COLUMNS, GBK_HEADERS, GBK_ROWS, LABELS, NEW_LABEL, RENAMED_LABEL
from data.samplegen.templates import TERM_FREQ, TERMS


def iso_time(t: dt.datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else ""


def _gov_time(t: dt.datetime | None) -> str:
    """The time format of government exports and Excel: ``2026/5/3 14:05``."""
    return f"{t.year}/{t.month}/{t.day} {t:%H:%M}" if t else ""


def _record(row: Row) -> dict[str, object]:
    return {
        "id": row.id, "time": iso_time(row.time), "caller": row.caller, "title": row.title, "text": row.text,
        "district": row.district, "street": row.street, "label": row.label, "urgency": row.urgency,
        "reply_time": iso_time(row.reply) or None, "status": row.status, "likes": row.likes,
    }  # fmt: skip


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[object]], lineterminator: str = "\n") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=lineterminator)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _csv_values(row: Row) -> list[object]:
    return ["" if v is None else v for v in _record(row).values()]


def complaints_csv(rows: Sequence[Row]) -> str:
    """The log as CSV with the canonical English headers."""
    return _csv_text(COLUMNS, [_csv_values(r) for r in rows])


def complaints_jsonl(rows: Sequence[Row]) -> str:
    """The log as JSON lines (``reply_time`` is null while a case is open)."""
    return "".join(json.dumps(_record(r), ensure_ascii=False) + "\n" for r in rows)


def gbk_safe(text: str) -> str:
    """``text`` with every character GBK cannot encode dropped (zero-width) or replaced."""
    out = []
    for ch in text:
        if ch == ZERO_WIDTH:
            continue
        try:
            ch.encode("gbk")
        except UnicodeEncodeError:
            ch = "?"
        out.append(ch)
    return "".join(out)


def complaints_gbk(rows: Sequence[Row]) -> bytes:
    """A government-system export: Chinese headers, ``2026/5/3 14:05`` times, CRLF, GBK bytes."""
    values = [
        [
            r.id,
            _gov_time(r.time),
            r.caller,
            r.title,
            r.text,
            r.district,
            r.street,
            r.label,
            r.urgency,
            _gov_time(r.reply),
            r.status,
            r.likes,
        ]
        for r in rows
    ]
    text = _csv_text(GBK_HEADERS, [[gbk_safe(str(v)) for v in row] for row in values], "\r\n")
    return text.encode("gbk")


# The malformed log: (data row, what is wrong, the reason ingest gives) for rows it rejects.
MALFORMED_REJECTS = (
    (4, "text is empty", "empty text"),
    (6, "text is only whitespace", "empty text"),
    (8, "time 昨天下午", "unparseable time"),
    (10, "time 2026-13-45", "unparseable time"),
    (12, "13 fields (an unquoted comma in the text)", "expected 12 fields"),
    (14, "9 fields (the last three are missing)", "expected 12 fields"),
    (16, "label is empty (rejected only when a label is required, e.g. for training)", "empty label"),
    (20, "unclosed quote: swallows the rest of the file", "malformed CSV"),
)


def complaints_malformed(rows: Sequence[Row]) -> str:
    """Twenty rows with the faults of real exports; see MALFORMED_REJECTS for which and where."""
    good = [_csv_values(r) for r in rows]
    lines = _csv_text(COLUMNS, []).splitlines()
    body: list[list[object]] = []
    for i, values in enumerate(good[:19], start=1):
        v = list(values)
        if i == 4:
            v[4] = ""
        elif i == 6:
            v[4] = "  \t  "
        elif i == 8:
            v[1] = "昨天下午"
        elif i == 10:
            v[1] = "2026-13-45 10:00:00"
        elif i == 16:
            v[7] = ""
        elif i == 18:
            t = rows[i - 1].time
            v[1] = f"{t.year}年{t.month}月{t.day}日 {t.hour}时{t.minute}分"  # unusual but valid
        body.append(v)
    for i, v in enumerate(body, start=1):
        if i == 12:  # an unquoted comma in the text makes one field too many
            text = str(v[4]).replace("\n", " ").replace('"', "")
            cut = max(1, len(text) // 2)
            raw = [*map(str, v[:4]), text[:cut], text[cut:], *map(str, v[5:])]
            lines.append(",".join(x.replace(",", "，") for x in raw))
        elif i == 14:  # the line was cut short
            lines.append(_csv_text([str(x) for x in v[:9]], []).rstrip("\n"))
        else:
            lines.append(_csv_text([str(x) for x in v], []).rstrip("\n"))
    last = good[19]
    text = str(last[4]).replace('"', "").replace("\n", " ")
    lines.append(",".join([str(x) for x in last[:4]] + [f'"{text}', *[str(x) for x in last[5:]]]))
    return "\n".join(lines) + "\n"


def new_labels_csv(rows: Sequence[Row]) -> str:
    """Newly labelled rows for the retraining example (same columns as complaints.csv)."""
    return complaints_csv(rows)


def label_mapping_csv() -> str:
    """How the old label set maps onto the new one (a rename)."""
    return _csv_text(("old", "new"), [RENAMED_LABEL])


def userdict_text(gazetteer: dict) -> str:
    """The jieba user dictionary: terms, category names, then every gazetteer name and alias.

    One ``word freq pos`` per line; place names are ``ns``. A word appears once (first wins).
    """
    entries: dict[str, tuple[int, str]] = {}
    for word, pos in TERMS:
        entries.setdefault(word, (TERM_FREQ, pos))
    for label in (*LABELS, NEW_LABEL, RENAMED_LABEL[1]):
        entries.setdefault(label, (TERM_FREQ, "nz"))
    for name in gazetteer_names(gazetteer):
        # Short aliases (江北, 南门) are ordinary words too: a lower frequency keeps them from
        # swallowing their neighbours.
        entries.setdefault(name, (3000 if len(name) >= 3 else 800, "ns"))
    return "".join(f"{w} {freq} {pos}\n" for w, (freq, pos) in entries.items())


def gbk_subset(rows: Sequence[Row], n: int = GBK_ROWS) -> list[Row]:
    """``n`` rows spread evenly over the log (the surge included)."""
    return [rows[i * len(rows) // n] for i in range(n)]


def malformed_source(rows: Sequence[Row]) -> list[Row]:
    """The 20 rows the malformed log is made from: the first ones without export noise."""
    return [r for r in rows if not r.noise][:20]

"""Write a :class:`~reports.briefing.Briefing` as XLSX (one sheet per section, native charts,
typed cells) or as one self-contained HTML file (inline CSS, charts as base64 PNG).

Sheet names, headers and section titles are in ``reports/templates/zh.json``, the page in
``reports/templates/briefing.html.j2``: wording changes need no code change.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from ingest.writers import xlsx_value
from reports.briefing import Briefing

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "yyyy-mm-dd hh:mm"


@lru_cache(maxsize=1)
def labels() -> dict[str, Any]:
    """The Chinese wording of the report (sheet names, headers, section titles)."""
    return json.loads((TEMPLATES / "zh.json").read_text(encoding="utf-8"))


def write_briefing(briefing: Briefing, path: str | Path) -> Path:
    """Write the briefing in the format the extension names (.xlsx or .html)."""
    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".xlsx":
        return write_xlsx(briefing, path)
    if suffix in (".html", ".htm"):
        path.write_text(render_html(briefing), encoding="utf-8")
        return path
    raise ValueError(f"unknown report format {path.suffix!r}: use .xlsx or .html")


# -- tables shared by both formats -----------------------------------------------------------------


def _nan_to_none(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def tables(b: Briefing) -> dict[str, pd.DataFrame]:
    """One table per section, Chinese headers, typed values; keyed by the section name."""
    L = labels()
    s = b.summary
    ov, out = L["overview"], {}
    total = next((o for o in s.outlook if o["series"] == "total"), None)
    oc = s.open_cases or {}
    rows: list[tuple[str, Any]] = [
        (ov["period"], L["period"][b.period]),
        (ov["as_of"], b.as_of.to_pydatetime()),
        (ov["as_of_source"], L["as_of_source"].get(b.as_of_source, b.as_of_source)),
        (ov["start"], b.start.to_pydatetime().date()),
        (ov["end"], b.end.to_pydatetime().date()),
        (ov["calls"], b.calls),
    ]
    for c in b.comparisons[1:]:
        rows.append((f"{ov['calls']}（{L['comparisons'][c['name']]}）", c["calls"]))
    rows += [
        (ov["expected"], b.expected_period),
        (ov["vs_expected"], None if b.expected_period is None else b.calls - b.expected_period),
        (ov["alerts_opened"], len(b.alerts_opened)),
        (ov["alerts_closed"], len(b.alerts_closed)),
        (ov["hot"], len(b.hot)),
        (ov["n_open"], oc.get("n_open")),
        (ov["n_overdue"], oc.get("n_overdue")),
        (ov["n_complaints"], b.review.get("n_complaints")),
        (ov["n_review"], b.review.get("n_review")),
        (ov["next_week"], None if total is None else total["next_week"]),
        (ov["next_lower"], None if total is None else total["lower"]),
        (ov["next_upper"], None if total is None else total["upper"]),
    ]
    out["overview"] = pd.DataFrame(rows, columns=[ov["item"], ov["value"]])

    v = L["volume"]
    vol = b.volume.copy()
    for col in ("expected", "lower", "upper"):
        if col not in vol:
            vol[col] = float("nan")
    vol = vol[["date", "calls", "expected", "lower", "upper"]]
    vol["date"] = [d.date() for d in pd.to_datetime(vol["date"])]
    out["volume"] = vol.rename(columns={k: v[k] for k in vol.columns})

    c = L["categories"]
    out["categories"] = b.by_category.rename(columns={k: c[k] for k in b.by_category.columns})

    h = L["hot"]
    hot_cols = ["rank", "category", "district", "anchor", "description", "n_recent", "n_before",
                "n_complaints", "growth", "first_seen", "last_seen", "examples"]  # fmt: skip
    hot = pd.DataFrame(
        [
            {
                **{k: r.get(k) for k in hot_cols},
                "first_seen": _day(r.get("first_seen")),
                "last_seen": _day(r.get("last_seen")),
                "examples": "\n".join(r.get("examples") or []),
            }
            for r in b.hot
        ],
        columns=hot_cols,
    )
    out["hot"] = hot.rename(columns={k: h[k] for k in hot_cols})

    a = L["alerts"]
    alert_cols = ["kind", "series_key", "first_seen", "last_seen", "observed", "expected", "size", "score",
                  "keywords", "example"]  # fmt: skip
    alert_rows = [
        {"status": a[status], **{k: r.get(k) for k in alert_cols}}
        for status, recs in (("opened", b.alerts_opened), ("closed", b.alerts_closed))
        for r in recs
    ]
    alerts = pd.DataFrame(alert_rows, columns=["status", *alert_cols])
    for col in ("first_seen", "last_seen"):
        alerts[col] = [_day(x) for x in alerts[col]]
    out["alerts"] = alerts.rename(columns={k: a[k] for k in alerts.columns})

    r = L["at_risk"]
    risk = pd.DataFrame(
        [
            {
                "id": x.get("id"),
                "title": x.get("title") or "",
                "category": x.get("category"),
                "district": x.get("district"),
                "time": _time(x.get("time")),
                "elapsed": _nan_to_none(x.get("elapsed")),
                "unit": r["hours"] if x.get("unit") == "hours" else r["workdays"],
                "deadline": _time(x.get("deadline")),
                "p": _nan_to_none(x.get("p_unanswered_at_deadline")),
                "overdue": r["yes"] if x.get("overdue") else r["no"],
            }
            for x in s.at_risk
        ],
        columns=[
            "id",
            "title",
            "category",
            "district",
            "time",
            "elapsed",
            "unit",
            "deadline",
            "p",
            "overdue",
        ],
    )
    out["at_risk"] = risk.rename(columns={k: r[k] for k in risk.columns})

    q = L["review"]
    review = pd.DataFrame(b.review_rows, columns=["id", "time", "title", "label", "score", "model_version"])
    review["time"] = [_time(t) for t in review["time"]]
    out["review"] = review.rename(columns={k: q[k] for k in review.columns})

    out["notes"] = pd.DataFrame({L["notes"]["note"]: b.notes})
    return out


def _day(value: Any) -> Any:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    return pd.Timestamp(value).to_pydatetime().date()


def _time(value: Any) -> Any:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    ts = pd.Timestamp(value)
    return None if pd.isna(ts) else ts.to_pydatetime()


# -- XLSX ------------------------------------------------------------------------------------------


def write_xlsx(b: Briefing, path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, LineChart, Reference
    from openpyxl.styles import Alignment, Font

    L = labels()
    wb = Workbook()
    wb.remove(wb.active)
    sheets = {}
    for key, frame in tables(b).items():
        ws = wb.create_sheet(title=L["sheets"][key])
        sheets[key] = ws
        ws.append([xlsx_value(str(c), formula_guard=True) for c in frame.columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for rec in frame.itertuples(index=False):
            ws.append([xlsx_value(_nan_to_none(x), formula_guard=True) for x in rec])
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if cell.is_date:
                    has_time = hasattr(cell.value, "hour") and (cell.value.hour or cell.value.minute)
                    cell.number_format = TIME_FORMAT if has_time else DATE_FORMAT
                elif isinstance(cell.value, str) and "\n" in cell.value:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
        for i, col in enumerate(frame.columns, 1):
            width = max([len(str(col)) * 2] + [min(len(str(x)), 40) for x in frame.iloc[:, i - 1]] + [8])
            ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = min(width + 2, 60)
        ws.freeze_panes = "A2"

    vol, n = sheets["volume"], len(b.volume)
    if n:
        chart = LineChart()
        chart.title = L["volume"]["chart"]
        chart.y_axis.title = L["volume"]["y"]
        chart.x_axis.number_format = "mm-dd"
        chart.height, chart.width = 8, 20
        chart.add_data(Reference(vol, min_col=2, max_col=5, min_row=1, max_row=n + 1), titles_from_data=True)
        chart.set_categories(Reference(vol, min_col=1, min_row=2, max_row=n + 1))
        vol.add_chart(chart, "G2")
        overview_chart = LineChart()
        overview_chart.title = chart.title
        overview_chart.height, overview_chart.width = 8, 20
        overview_chart.add_data(
            Reference(vol, min_col=2, max_col=3, min_row=1, max_row=n + 1), titles_from_data=True
        )
        overview_chart.set_categories(Reference(vol, min_col=1, min_row=2, max_row=n + 1))
        sheets["overview"].add_chart(overview_chart, "D2")
    cats, m = sheets["categories"], len(b.by_category)
    if m:
        bar = BarChart()
        bar.type = "bar"
        bar.title = L["categories"]["chart"]
        bar.height, bar.width = max(6, 0.6 * m + 3), 16
        bar.add_data(Reference(cats, min_col=2, max_col=3, min_row=1, max_row=m + 1), titles_from_data=True)
        bar.set_categories(Reference(cats, min_col=1, min_row=2, max_row=m + 1))
        cats.add_chart(bar, "F2")
    wb.save(path)
    return path


# -- HTML ------------------------------------------------------------------------------------------


def render_html(b: Briefing) -> str:
    """One self-contained page: inline CSS, charts as base64 PNG, no external reference."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # complaint text is data, never markup
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = _html_cell
    L = labels()
    return env.get_template("briefing.html.j2").render(
        L=L,
        b=b,
        tables=tables(b),
        period=L["period"][b.period],
        review_summary=L["review"]["summary"].format(
            **{"n_review": 0, "n_predicted": 0, "n_complaints": 0, **b.review}
        ),
        volume_png=_png(_volume_figure(b)),
        category_png=_png(_category_figure(b)) if len(b.by_category) else "",
    )


def _html_cell(value: Any) -> str:
    value = _nan_to_none(value)
    if value is None:
        return ""
    if isinstance(value, pd.Timestamp) or hasattr(value, "strftime"):
        has_time = getattr(value, "hour", 0) or getattr(value, "minute", 0)
        return value.strftime("%Y-%m-%d %H:%M" if has_time else "%Y-%m-%d")
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.2f}"
    return str(value)


def _png(fig: Any) -> str:
    if fig is None:
        return ""
    from nlp.plotting import pyplot

    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _volume_figure(b: Briefing) -> Any:
    from nlp.plotting import pyplot

    if len(b.volume) == 0:
        return None
    plt = pyplot()
    v, L = b.volume, labels()["volume"]
    fig, ax = plt.subplots(figsize=(10, 3.6))
    dates = pd.to_datetime(v["date"])
    ax.axvspan(b.start - pd.Timedelta(hours=12), b.end + pd.Timedelta(hours=12), color="#fde68a", alpha=0.5)
    ax.plot(dates, v["calls"], marker="o", ms=3, color="#1f4e79", label=L["calls"])
    if "expected" in v and v["expected"].notna().any():
        ax.plot(dates, v["expected"], ls="--", color="#c0504d", label=L["expected"])
        ax.fill_between(
            dates, v["lower"], v["upper"], color="#c0504d", alpha=0.15, label=f"{L['lower']}–{L['upper']}"
        )
    ax.set_title(L["chart"])
    ax.set_ylabel(L["y"])
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    return fig


def _category_figure(b: Briefing) -> Any:
    from nlp.plotting import pyplot

    plt = pyplot()
    c, L = b.by_category.iloc[::-1], labels()["categories"]
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(c) + 1.2))
    y = range(len(c))
    ax.barh([i + 0.2 for i in y], c["calls"], height=0.4, color="#1f4e79", label=L["calls"])
    ax.barh([i - 0.2 for i in y], c["previous"], height=0.4, color="#a6a6a6", label=L["previous"])
    ax.set_yticks(list(y), list(c["category"]))
    ax.set_title(L["chart"])
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return fig

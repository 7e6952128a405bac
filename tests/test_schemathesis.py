"""Property-based fuzzing of every operation in the service's own OpenAPI (schemathesis 4.x).

The app runs with every route live: a model registry (two versions), an event store filled by
the events pipeline, a fitted forecaster and a survival model. Every generated request (valid
and invalid ones) must get a non-5xx answer whose body matches the schema the app publishes,
errors included (the `{"error", "error_type"}` envelope). Seeded and bounded: the default run
takes about a minute on two cores; ``HOTLINE_FUZZ_EXAMPLES`` or the slow variant runs more.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

ADMIN_KEY = "fuzz-admin"
FAST_EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture(scope="module")
def live_app(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from events.config import EventsConfig
    from events.pipeline import run_events
    from events.store import EventStore
    from serving.app import create_app
    from serving.settings import Settings
    from tests.test_classifier import make_transformer
    from tests.test_events_cli import write_log
    from tests.test_forecast_common import fitted_forecaster
    from tests.test_forecast_survival import EXPORT, exponential_log

    root = tmp_path_factory.mktemp("fuzz")
    registry = root / "registry"
    clf = make_transformer(tiny_bert_dir)
    for version in ("v1", "v2"):
        clf.info.version = version
        clf.save(registry / version)
    (registry / "current").write_text("v1", encoding="utf-8")
    store_path = root / "events.db"
    store = EventStore(store_path)
    run_events(write_log(root / "log.csv"), store, config=EventsConfig(gazetteer="none", progress=False))
    store.close()
    fitted_forecaster().save(root / "forecaster")
    from forecasting.cases import prepare_cases
    from forecasting.config import SurvivalConfig
    from forecasting.survival import SurvivalModel

    cfg = SurvivalConfig(
        covariates=("category", "district", "text_length", "urgency", "weekday"), min_level_count=5
    )
    cases = prepare_cases(exponential_log(n=300, seed=9, rate=1 / 40), cfg, analysis_date=EXPORT)
    SurvivalModel.fit(cases, cfg).save(root / "survival")
    settings_ = Settings(
        model_dir=registry,
        store_url=f"sqlite:///{store_path}",
        forecast_dir=root / "forecaster",
        survival_dir=root / "survival",
        admin_keys=ADMIN_KEY,
        event_fields=True,
        num_threads=1,
        max_body_bytes=64_000,
    )
    yield create_app(settings_)
    shutil.rmtree(root, ignore_errors=True)


def fuzz(app: Any, examples: int) -> dict[str, Any]:
    """Run every operation with ``examples`` positive and negative cases; failures collected.

    Collected rather than raised: a raised failure makes hypothesis shrink it (minutes), and one
    run should report every operation that fails, not only the first.
    """
    from schemathesis import GenerationMode

    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    stats: dict[str, Any] = {"cases": 0, "server_errors": 0, "failures": []}
    for result in api.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, mode, examples, stats)
    return stats


def _fuzz_operation(operation: Any, mode: Any, examples: int, stats: dict[str, Any]) -> None:
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable

    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, **_COMMON)
    def run(case: Any) -> None:
        stats["cases"] += 1
        response = case.call(headers=headers)
        if response.status_code >= 500:
            stats["server_errors"] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception as exc:  # every kind of check failure is collected
            text = " | ".join(str(exc).splitlines()[0:3])
            stats["failures"].append(f"{operation.label} [{mode.value}]: {text}")

    # No invalid request exists for an operation without parameters (GET /health).
    with contextlib.suppress(Unsatisfiable):
        run()


_COMMON: dict[str, Any] = dict(
    derandomize=True,  # seeded: the same cases on every run
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)


def _assert_clean(stats: dict[str, Any]) -> None:
    failures = sorted(set(stats["failures"]))
    assert stats["cases"] > 0
    assert stats["server_errors"] == 0 and not failures, (
        f"{stats['cases']} cases, {stats['server_errors']} 5xx, {len(failures)} distinct failures:\n"
        + "\n".join(failures[:30])
    )


def test_no_server_error_and_schema_conformance(live_app: Any) -> None:
    _assert_clean(fuzz(live_app, FAST_EXAMPLES))


@pytest.mark.slow
def test_no_server_error_long_run(live_app: Any) -> None:
    _assert_clean(fuzz(live_app, 150))

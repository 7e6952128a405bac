"""Shared fixtures: offline environment, the tiny BERT, the sample logs, real-data paths."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# datasets (training.tokenized) works on local files only; never ask the hub
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Each test app would otherwise spend its CPU warming dashboard caches in a background thread
# that outlives the test (tests/test_forecast_speed.py tests the warm-up itself).
os.environ.setdefault("HOTLINE_DASHBOARD_WARMUP", "false")
# Tests (and the CLI subprocesses they start) must not create or read the user's real
# caller-key secret in ~/.config/hotline.
os.environ.setdefault(
    "HOTLINE_CALLER_SECRET_FILE", str(Path(tempfile.mkdtemp(prefix="hotline-test-")) / "caller_secret")
)

# The event-store tests' locations on each backend (fixtures defined there, visible everywhere).
from tests.store_fixtures import pg_url, store_url  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "data" / "samples"
SHARED_DATASETS = Path(os.environ.get("HOTLINE_DATASETS", REPO_ROOT.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-layer randomly initialised BERT with a 3k-character Chinese vocabulary."""
    from tests.tiny_model import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not (SAMPLES / "complaints.csv").exists():
        pytest.skip("data/samples not generated (run: python data/make_samples.py)")
    return SAMPLES


def shared_dataset(*parts: str) -> Path:
    """Path of a file under ../shared/datasets, skipping the test when it is absent."""
    path = SHARED_DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"dataset not found: {path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL server for the store tests (its user may create
    databases: see ``tests.postgres.fresh_database``).

    ``HOTLINE_TEST_POSTGRES_URL`` when set; otherwise a throw-away server started here from the
    installed PostgreSQL binaries (Debian's ``postgresql`` package) in a temporary directory,
    stopped at the end of the session. Without PostgreSQL the tests are skipped - except under
    CI (``CI`` set), where they fail, so that CI cannot pass without having run them."""
    from tests.postgres import ENV_URL, PostgresUnavailable, running_server, sqlalchemy_url

    def unavailable(reason: str) -> None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)

    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (pip install 'psycopg[binary]', in the dev extra)")
    url = os.environ.get(ENV_URL)
    if url:
        yield sqlalchemy_url(url)
        return
    with contextlib.ExitStack() as stack:
        try:
            yield_url = stack.enter_context(running_server())
        except PostgresUnavailable as exc:
            unavailable(str(exc))
        yield yield_url

"""Shared fixtures: offline environment, the tiny BERT, the sample logs, real-data paths."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests (and the CLI subprocesses they start) must not create or read the user's real
# caller-key secret in ~/.config/hotline.
os.environ.setdefault(
    "HOTLINE_CALLER_SECRET_FILE", str(Path(tempfile.mkdtemp(prefix="hotline-test-")) / "caller_secret")
)

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

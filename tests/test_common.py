"""The bottom package: JSON values, atomic writes and the job-config base."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytest
from pydantic import Field, field_validator

from common.config import JobConfig
from common.errors import ConfigError
from common.files import atomic_open, atomic_write_json
from common.jsonsafe import dumps, json_safe


class Job(JobConfig):
    mode: Literal["fast", "slow"] = Field("fast", description="how to run")
    steps: int = Field(3, description="how many steps")
    names: tuple[str, ...] = ("a",)

    @field_validator("steps")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be at least 1")
        return v


def test_json_safe_turns_numpy_pandas_and_missing_values_into_json() -> None:
    value = {
        "i": np.int64(3),
        "f": np.float32(1.5),
        "nan": float("nan"),
        "inf": np.float64("inf"),
        "ts": pd.Timestamp("2020-01-07 08:30"),
        "nat": pd.NaT,
        "arr": np.array([1, 2]),
        "tuple": (1, "二"),
        "day": dt.date(2020, 1, 7),
        "path": Path("a/b"),
    }
    assert json_safe(value) == {
        "i": 3,
        "f": 1.5,
        "nan": None,
        "inf": None,
        "ts": "2020-01-07 08:30:00",
        "nat": None,
        "arr": [1, 2],
        "tuple": [1, "二"],
        "day": "2020-01-07",
        "path": "a/b",
    }
    assert json.loads(dumps({"x": float("nan"), "名": "值"})) == {"x": None, "名": "值"}


def test_job_config_names_every_bad_field_in_one_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        Job(mode="turbo", steps=0, colour="red")
    message = str(err.value)
    assert "mode" in message and "steps: must be at least 1" in message and "colour: unknown field" in message
    job = Job()
    with pytest.raises(ConfigError, match="steps"):
        job.steps = "many"
    assert job.steps == 3


def test_job_config_round_trips_through_json(tmp_path: Path) -> None:
    job = Job(mode="slow", steps=5, names=("x", "y"))
    path = job.save(tmp_path / "job.json")
    assert json.loads(path.read_text(encoding="utf-8")) == {"mode": "slow", "steps": 5, "names": ["x", "y"]}
    assert Job.load(path) == job
    assert job.replace(steps=7).steps == 7
    with pytest.raises(ConfigError, match="steps"):
        job.replace(steps=-1)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.json: not a JSON configuration"):
        Job.load(tmp_path / "bad.json")


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write('{"v": 2')
        raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text(encoding="utf-8")) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]

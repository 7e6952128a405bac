"""The Ray Data classify job against the local one, on a local two-CPU Ray cluster."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from batch.classify import ClassifyConfig, classify_log  # noqa: E402
from batch.progress import summary_path  # noqa: E402
from batch.ray_classify import RayClassifyConfig, classify_log_ray, shards_dir  # noqa: E402
from tests.test_classify import make_log, read_output  # noqa: E402
from tests.test_classify import tfidf_dir as tfidf_dir  # noqa: E402  (module fixture)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Short temp path: Ray's socket paths must stay under the 107-byte AF_UNIX limit.
    temp = Path("/tmp") / f"ray-{os.getpid()}"
    repo = str(Path(__file__).resolve().parents[1])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=str(temp),
        runtime_env={"env_vars": {"PYTHONPATH": repo, "HF_HUB_OFFLINE": "1"}},
        log_to_driver=False,
    )
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def gbk_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("raylog") / "log.csv"
    make_log(90, bad_every=11).to_csv(src, index=False, encoding="gbk")
    return src


def _local(src: Path, out: Path, model: Path) -> None:
    classify_log(
        ClassifyConfig(
            input=str(src),
            output=str(out),
            model=str(model),
            rejects=str(out) + ".rejects.csv",
            chunk_size=16,
        )
    )


def _ray(src: Path, out: Path, model: Path, *, actors: int = 1, resume: bool = False) -> dict:
    summary = classify_log_ray(
        RayClassifyConfig(
            input=str(src),
            output=str(out),
            model=str(model),
            rejects=str(out) + ".rejects.csv",
            chunk_size=16,
            actors=actors,
            resume=resume,
        )
    )
    return summary.to_dict()


def _same(local: Path, remote: Path) -> None:
    a, b = read_output(local), read_output(remote)
    pd.testing.assert_frame_equal(a, b)
    assert Path(str(local) + ".rejects.csv").read_bytes() == Path(str(remote) + ".rejects.csv").read_bytes()


# Ray start-up and actors cost tens of seconds on a shared CI box: CSV stays in the default tier.
@pytest.mark.parametrize(
    "suffix",
    [
        ".csv",
        pytest.param(".parquet", marks=pytest.mark.slow),
        pytest.param(".jsonl", marks=pytest.mark.slow),
    ],
)
def test_ray_equals_local_row_for_row(
    ray_cluster: None,
    gbk_log: Path,
    tfidf_dir: Path,
    tmp_path: Path,
    suffix: str,
) -> None:
    local, remote = tmp_path / f"local{suffix}", tmp_path / f"ray{suffix}"
    _local(gbk_log, local, tfidf_dir)
    got = _ray(gbk_log, remote, tfidf_dir, actors=2)
    _same(local, remote)
    frame = read_output(remote)
    assert len(frame) == 90 - 90 // 11
    assert not frame["留言详情"].astype(str).str.contains("13812345678").any()  # masked
    want = json.loads(summary_path(local).read_text(encoding="utf-8"))
    for key in ("rows_read", "classified", "rejected", "label_counts", "needs_review", "model_version"):
        assert got[key] == want[key], key
    assert json.loads(summary_path(remote).read_text(encoding="utf-8"))["classified"] == want["classified"]


def test_rerun_rewrites_only_a_missing_shard(
    ray_cluster: None,
    gbk_log: Path,
    tfidf_dir: Path,
    tmp_path: Path,
) -> None:
    local, remote = tmp_path / "local.csv", tmp_path / "ray.csv"
    _local(gbk_log, local, tfidf_dir)
    _ray(gbk_log, remote, tfidf_dir)
    shards = shards_dir(remote)
    kept = shards / "shard-000000.parquet"
    kept_mtime = kept.stat().st_mtime_ns
    (shards / "shard-000002.parquet").unlink()
    remote.unlink()
    summary = _ray(gbk_log, remote, tfidf_dir, resume=True)
    assert (shards / "shard-000002.parquet").exists()
    assert kept.stat().st_mtime_ns == kept_mtime  # skipped, not rewritten
    assert summary["resumed_from_row"] > 0
    _same(local, remote)


@pytest.mark.slow
def test_resume_refuses_other_options(
    ray_cluster: None,
    gbk_log: Path,
    tfidf_dir: Path,
    tmp_path: Path,
) -> None:
    from common.errors import HotlineError

    remote = tmp_path / "ray.csv"
    _ray(gbk_log, remote, tfidf_dir)
    with pytest.raises(HotlineError, match="other options"):
        classify_log_ray(
            RayClassifyConfig(
                input=str(gbk_log), output=str(remote), model=str(tfidf_dir), chunk_size=8, resume=True
            )
        )


def test_cli_ray_flag_runs_the_ray_job(
    ray_cluster: None, gbk_log: Path, tfidf_dir: Path, tmp_path: Path
) -> None:
    from tests.test_classify import invoke

    out = tmp_path / "cli.csv"
    text = invoke("classify", gbk_log, "-o", out, "--model", tfidf_dir, "--chunk-size", "16", "--ray")
    assert "classified 82 of 90 rows" in text
    assert shards_dir(out).is_dir()  # the Ray job wrote it, not the local one
    local = tmp_path / "local.csv"
    invoke("classify", gbk_log, "-o", local, "--model", tfidf_dir, "--chunk-size", "16")
    pd.testing.assert_frame_equal(read_output(local), read_output(out))

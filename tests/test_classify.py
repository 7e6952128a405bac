"""`hotline classify`: formats, rejects, summary, and resuming after a crash (SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from batch.classify import ClassifyConfig, classify_log
from batch.progress import progress_path, summary_path
from common.errors import HotlineError
from hotline.cli import app
from tests.test_classifier import TEXTS, fit_tfidf, make_transformer

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def tfidf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = fit_tfidf()
    model.info.version = "tf-1"
    return model.save(tmp_path_factory.mktemp("classify") / "tfidf")


@pytest.fixture(scope="module")
def transformer_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    clf = make_transformer(tiny_bert_dir)
    clf.info.version = "tr-1"
    return clf.save(tmp_path_factory.mktemp("classify") / "transformer")


def make_log(n: int, *, bad_every: int = 0) -> pd.DataFrame:
    """A complaint log with Chinese headers, extra columns, and (optionally) empty texts."""
    rows = []
    for i in range(n):
        text = f"{TEXTS[i % len(TEXTS)]}，第{i}号 联系电话13812345678"
        if bad_every and i % bad_every == bad_every - 1:
            text = ""
        rows.append(
            {
                "工单编号": f"T{i:06d}",
                "留言主题": f"主题{i % 7}",
                "留言详情": text,
                "留言时间": f"2026-11-{1 + i % 28:02d} 08:{i % 60:02d}:00",
                "备注": f"note {i}",
            }
        )
    return pd.DataFrame(rows)


def invoke(*args: str) -> str:
    import logging

    # The CLI points logging at CliRunner's captured stderr, which is closed afterwards.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert result.exit_code == 0, result.output
    return result.output


def read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".xlsx":
        return pd.read_excel(path, dtype=str)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path, dtype=str, encoding="utf-8-sig", sep="\t" if path.suffix == ".tsv" else ",")


def test_csv_in_csv_out_keeps_columns_rejects_and_summary(tfidf_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "log.csv"
    make_log(60, bad_every=10).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    text = invoke("classify", src, "-o", out, "--model", tfidf_dir, "--chunk-size", "16")
    frame = read_output(out)
    assert len(frame) == 54
    assert list(frame.columns) == [
        "工单编号",
        "留言主题",
        "留言详情",
        "留言时间",
        "备注",
        "label",
        "score",
        "top_k",
        "needs_review",
    ]
    top_k = json.loads(frame["top_k"][0])
    assert top_k[0]["label"] == frame["label"][0] and len(top_k) == 3
    assert set(frame["needs_review"]) <= {"True", "False"}
    rejects = pd.read_csv(tmp_path / "out.rejects.csv", encoding="utf-8-sig")
    assert len(rejects) == 6 and set(rejects["reason"]) == {"empty text"}
    summary = json.loads(summary_path(out).read_text(encoding="utf-8"))
    assert summary["rows_read"] == 60 and summary["classified"] == 54 and summary["rejected"] == 6
    assert sum(summary["label_counts"].values()) == 54 and summary["model_version"] == "tf-1"
    assert "classified 54 of 60 rows" in text


@pytest.mark.parametrize("suffix", [".jsonl", ".xlsx", ".parquet", ".tsv"])
def test_gbk_csv_in_other_formats_out(tfidf_dir: Path, tmp_path: Path, suffix: str) -> None:
    src = tmp_path / "gbk.csv"
    make_log(40).to_csv(src, index=False, encoding="gbk")
    out = tmp_path / f"out{suffix}"
    invoke("classify", src, "-o", out, "--model", tfidf_dir, "--chunk-size", "15", "--with-text")
    frame = read_output(out)
    assert len(frame) == 40
    assert frame["工单编号"].astype(str).tolist() == [f"T{i:06d}" for i in range(40)]
    # --with-text adds the masked classifier input: the phone number never appears.
    assert frame["masked_text"].str.contains("[手机号]", regex=False).all()
    assert not frame["masked_text"].str.contains("13812345678").any()
    if suffix == ".jsonl":
        assert isinstance(frame["top_k"][0], list)
    assert not (tmp_path / f"out{suffix}.parts").exists()


def test_labelled_input_keeps_its_label_column(tfidf_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "labelled.jsonl"
    frame = pd.DataFrame({"text": TEXTS, "label": ["甲"] * len(TEXTS)})
    frame.to_json(src, orient="records", lines=True, force_ascii=False)
    out = tmp_path / "pred.csv"
    invoke("classify", src, "-o", out, "--model", tfidf_dir)
    result = read_output(out)
    assert (result["label"] == "甲").all() and "pred_label" in result.columns


def test_resume_truncates_a_partial_tail(tfidf_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "log.csv"
    make_log(100, bad_every=9).to_csv(src, index=False)
    full = tmp_path / "full.csv"
    classify_log(
        ClassifyConfig(
            input=str(src),
            output=str(full),
            model=str(tfidf_dir),
            rejects=str(tmp_path / "full.rej.csv"),
            chunk_size=20,
        )
    )

    out = tmp_path / "out.csv"
    rej = tmp_path / "out.rej.csv"
    cfg = ClassifyConfig(
        input=str(src), output=str(out), model=str(tfidf_dir), rejects=str(rej), chunk_size=20
    )
    classify_log(cfg)
    # Rewind the commit to the middle of the job and leave half-written garbage behind it, as
    # a crash between an append and its commit would.
    state = json.loads(progress_path(out).read_text(encoding="utf-8"))
    reference = out.read_bytes()
    data = out.read_bytes()
    cut = data.index(b"T000040")  # rows_done=40: data rows 1..40 are i = 0..39
    cut = data.rindex(b"\n", 0, cut) + 1
    state.update(status="running", rows_done=40, output_bytes=cut, rejects_bytes=0, rejected=0)
    state["classified"] = 0
    progress_path(out).write_text(json.dumps(state), encoding="utf-8")
    out.write_bytes(data[:cut] + b"T000040,garbage,half a ro")
    summary = classify_log(
        ClassifyConfig(
            input=str(src),
            output=str(out),
            model=str(tfidf_dir),
            rejects=str(rej),
            chunk_size=20,
            resume=True,
        )
    )
    assert summary.resumed_from_row == 40
    assert out.read_bytes() == reference == full.read_bytes()


def test_resume_refuses_changed_input_or_options(
    tfidf_dir: Path, transformer_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "log.csv"
    make_log(30).to_csv(src, index=False)
    out = tmp_path / "out.jsonl"
    classify_log(ClassifyConfig(input=str(src), output=str(out), model=str(tfidf_dir), chunk_size=10))
    with pytest.raises(HotlineError, match="model_dir"):
        classify_log(
            ClassifyConfig(
                input=str(src), output=str(out), model=str(transformer_dir), chunk_size=10, resume=True
            )
        )
    make_log(31).to_csv(src, index=False)
    with pytest.raises(HotlineError, match="not the file"):
        classify_log(
            ClassifyConfig(input=str(src), output=str(out), model=str(tfidf_dir), chunk_size=10, resume=True)
        )


def test_config_errors_say_how_to_fix(tmp_path: Path, tfidf_dir: Path) -> None:
    with pytest.raises(ValueError, match="overwrite the input"):
        ClassifyConfig(input="a.csv", output="a.csv", model="m")
    src = tmp_path / "log.csv"
    make_log(3).to_csv(src, index=False)
    from common.errors import InputFileError

    with pytest.raises(InputFileError, match="unknown file type"):
        ClassifyConfig(input=str(src), output=str(tmp_path / "o.doc"), model=str(tfidf_dir))


def _run_cli(args: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "hotline", "-q", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigkill_then_resume_equals_uninterrupted_run(transformer_dir: Path, tmp_path: Path) -> None:
    """Kill the real CLI process mid-run, resume, and compare with a clean run row for row."""
    from nlp.engine import EngineConfig

    src = tmp_path / "log.jsonl"
    n = 1500
    make_log(n, bad_every=13).to_json(src, orient="records", lines=True, force_ascii=False)
    # The clean run in-process (saves a process start); same code, same single thread.
    clean = tmp_path / "clean.csv"
    classify_log(
        ClassifyConfig(
            input=str(src),
            output=str(clean),
            model=str(transformer_dir),
            rejects=str(tmp_path / "clean.rejects.csv"),
            chunk_size=50,
            engine=EngineConfig(num_threads=1),
        )
    )

    out = tmp_path / "out.csv"
    common = [
        "classify",
        str(src),
        "-o",
        str(out),
        "--model",
        str(transformer_dir),
        "--chunk-size",
        "50",
        "--threads",
        "1",
    ]
    proc = _run_cli(common)
    progress = progress_path(out)
    killed_at = None
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if progress.exists():
            try:
                done = json.loads(progress.read_text(encoding="utf-8"))["rows_done"]
            except (json.JSONDecodeError, KeyError, OSError):
                done = 0
            if done >= 200:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                killed_at = done
                break
        time.sleep(0.002)
    assert killed_at is not None and killed_at < n, "the run finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL

    proc = _run_cli([*common, "--resume"])
    assert proc.wait(timeout=240) == 0, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    a, b = read_output(out), read_output(clean)
    pd.testing.assert_frame_equal(a, b)
    assert out.read_bytes() == clean.read_bytes()
    assert len(a) == n - n // 13 and a["工单编号"].is_unique
    rej_a = pd.read_csv(tmp_path / "out.rejects.csv", encoding="utf-8-sig")
    rej_b = pd.read_csv(tmp_path / "clean.rejects.csv", encoding="utf-8-sig")
    assert rej_a["row"].tolist() == rej_b["row"].tolist()
    summary = json.loads(summary_path(out).read_text(encoding="utf-8"))
    assert summary["resumed_from_row"] >= 200 and summary["classified"] == len(a)
    assert summary["rejected"] == len(rej_a)


def test_parquet_resume_drops_uncommitted_parts(tfidf_dir: Path, tmp_path: Path) -> None:
    from batch.progress import parts_dir

    src = tmp_path / "log.csv"
    make_log(90, bad_every=7).to_csv(src, index=False)
    full = tmp_path / "full.parquet"
    classify_log(ClassifyConfig(input=str(src), output=str(full), model=str(tfidf_dir), chunk_size=20))

    out = tmp_path / "out.parquet"
    rej = tmp_path / "out.rej.csv"

    class Crash(Exception):
        pass

    # Crash after the third committed chunk, from inside the job (as SIGKILL would, minus the
    # process): parts 0-2 are committed, part 3 is written but not committed.
    from batch import classify as classify_module

    real_commit = classify_module._commit
    calls = {"n": 0}

    def crashing_commit(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 4:
            raise Crash
        return real_commit(*args, **kwargs)

    classify_module._commit = crashing_commit
    try:
        with pytest.raises(Crash):
            classify_log(
                ClassifyConfig(
                    input=str(src), output=str(out), model=str(tfidf_dir), rejects=str(rej), chunk_size=20
                )
            )
    finally:
        classify_module._commit = real_commit
    assert len(list(parts_dir(out).glob("part-*.parquet"))) == 4 and not out.exists()
    summary = classify_log(
        ClassifyConfig(
            input=str(src),
            output=str(out),
            model=str(tfidf_dir),
            rejects=str(rej),
            chunk_size=20,
            resume=True,
        )
    )
    assert summary.resumed_from_row == 60
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(full))
    assert not parts_dir(out).exists()
    assert len(pd.read_csv(rej, encoding="utf-8-sig")) == 90 // 7


def test_store_receives_complaints_and_predictions(
    tfidf_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    calls: dict[str, list[pd.DataFrame]] = {"complaints": [], "predictions": []}

    class FakeStore:
        def __init__(self, url: str) -> None:
            assert url == "sqlite:///x.db"

        def upsert(self, df: pd.DataFrame) -> None:
            calls["complaints"].append(df)

        def upsert_predictions(self, df: pd.DataFrame) -> None:
            calls["predictions"].append(df)

    src = tmp_path / "log.csv"
    make_log(25).to_csv(src, index=False)
    classify_log(
        ClassifyConfig(input=str(src), output=str(tmp_path / "o.csv"), model=str(tfidf_dir), chunk_size=10),
        store=FakeStore("sqlite:///x.db"),
    )
    assert [len(df) for df in calls["complaints"]] == [10, 10, 5]
    preds = pd.concat(calls["predictions"])
    assert preds["id"].tolist() == [f"T{i:06d}" for i in range(25)]
    assert {"label", "score", "top_k", "needs_review", "model_version"} <= set(preds.columns)


def test_cli_store_writes_the_event_store_once(tfidf_dir: Path, tmp_path: Path) -> None:
    from events.store import EventStore

    src = tmp_path / "log.csv"
    make_log(25).to_csv(src, index=False)
    db = tmp_path / "events.db"
    for run in range(2):  # a second run over the same log must not double count
        invoke("classify", src, "-o", tmp_path / f"out{run}.csv", "--model", tfidf_dir, "--store", db)
    store = EventStore(str(db))
    try:
        counts = store.counts()
        assert counts["complaints"] == 25 and counts["predictions"] == 25
        preds = store.complaints.read_predictions()
        assert set(preds["label"]) <= {"噪音扰民", "市容环卫", "占道经营"} and len(preds) == 25
    finally:
        store.close()

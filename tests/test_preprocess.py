from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from batch.preprocess import preprocess_log
from hotline.cli import app

ROWS = [
    ["工单编号", "来电时间", "留言主题", "诉求内容", "一级分类"],
    ["1", "2026/5/3 14:05", "噪音", "工地夜间施工噪音扰民，电话13812345678", "噪音扰民"],
    ["2", "2026/5/4 09:00", "垃圾", "小区垃圾堆积三天无人清运", "市容环卫"],
    ["3", "不是时间", "垃圾", "垃圾清运不及时", "市容环卫"],
    ["4", "2026/5/5 10:00", "空", "", "市容环卫"],
]


def make_log(path: Path, encoding: str = "gbk") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows(ROWS)
    return path


def test_preprocess_log_masks_and_reports(tmp_path: Path) -> None:
    src = make_log(tmp_path / "log.csv")
    out = tmp_path / "clean.parquet"
    report = preprocess_log(src, out, rejects_path=tmp_path / "rejects.csv", keywords=3)
    assert report.encoding == "gb18030"
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (4, 2, 2)
    assert report.pii_masked == {"mobile": 1}
    assert report.labels == {"噪音扰民": 1, "市容环卫": 1}
    df = pd.read_parquet(out)
    assert "13812345678" not in df.to_csv()
    assert df.loc[0, "keywords"]
    rejects = pd.read_csv(tmp_path / "rejects.csv", encoding="utf-8-sig")
    assert set(rejects["kind"]) == {"empty_text", "unparseable_time"}


def test_cli_preprocess_and_inspect(tmp_path: Path) -> None:
    src = make_log(tmp_path / "log.csv")
    runner = CliRunner()
    result = runner.invoke(
        app, ["preprocess", str(src), "-o", str(tmp_path / "out.jsonl"), "--keyword-method", "textrank"]
    )
    assert result.exit_code == 0, result.output
    assert "2 written, 2 rejected" in result.output
    assert (tmp_path / "log.rejects.csv").exists() is False  # rejects go next to the output
    assert (tmp_path / "out.rejects.csv").exists()
    result = runner.invoke(app, ["inspect", str(src)])
    assert result.exit_code == 0, result.output
    assert "gb18030" in result.output and "text <- '诉求内容'" in result.output


def test_cli_user_error_exits_2_with_message(tmp_path: Path) -> None:
    import subprocess
    import sys

    src = make_log(tmp_path / "log.csv")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hotline",
            "preprocess",
            str(src),
            "-o",
            str(tmp_path / "o.csv"),
            "--text-column",
            "正文",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "正文" in proc.stderr and "--text-column" in proc.stderr and "Traceback" not in proc.stderr

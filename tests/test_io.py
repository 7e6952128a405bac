from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from common.errors import ColumnNotFoundError, InputFileError
from ingest.formats import detect_encoding, detect_format
from ingest.options import ColumnMap, ReaderOptions
from ingest.readers import ComplaintReader, count_rows, iter_texts, read_complaints
from ingest.rejects import RejectsWriter
from ingest.times import parse_times
from ingest.writers import TableWriter, write_table

CN_HEADER = ["工单编号", "来电时间", "留言主题", "诉求内容", "所属区县", "一级分类"]
CN_ROWS = [
    [
        "GD001",
        "2026/5/3 14:05",
        "夜间施工噪音",
        "江北区人民路工地每天凌晨两点还在施工，噪音扰民。",
        "江北区",
        "噪音扰民",
    ],
    [
        "GD002",
        "2026年5月4日 9时30分",
        "占道经营",
        "滨江路菜市场门口流动摊贩占道经营，电话13812345678。",
        "滨江区",
        "占道经营",
    ],
    ["GD003", "2026-05-05 08:00:00", "路灯不亮", "解放路的路灯坏了半个月了。", "江北区", "市政设施"],
]


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_reads_chinese_headers_in_any_common_encoding(tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "log.csv", CN_HEADER, CN_ROWS, encoding)
    df = read_complaints(path, ReaderOptions(require=("text", "label")))
    assert list(df["id"]) == ["GD001", "GD002", "GD003"]
    assert df.loc[0, "text"].startswith("江北区人民路工地")
    assert list(df["label"]) == ["噪音扰民", "占道经营", "市政设施"]
    assert list(df["district"]) == ["江北区", "滨江区", "江北区"]
    assert df.loc[1, "time"] == pd.Timestamp("2026-05-04 09:30:00")
    assert "13812345678" not in df.loc[1, "text"] and "[手机号]" in df.loc[1, "text"]


def test_detect_encoding_distinguishes_gbk_from_utf8(tmp_path: Path) -> None:
    gbk = write_csv(tmp_path / "gbk.csv", CN_HEADER, CN_ROWS, "gbk")
    utf = write_csv(tmp_path / "utf.csv", CN_HEADER, CN_ROWS, "utf-8")
    bom = write_csv(tmp_path / "bom.csv", CN_HEADER, CN_ROWS, "utf-8-sig")
    assert detect_encoding(gbk) == "gb18030"
    assert detect_encoding(utf) == "utf-8"
    assert detect_encoding(bom) == "utf-8-sig"


def test_gbk_detected_when_the_start_of_the_file_is_ascii(tmp_path: Path) -> None:
    # The first megabyte is plain ASCII; the Chinese text only starts further down.
    rows = [[f"ID{i}", "2026-05-01", "title", "x" * 200, "d", "l"] for i in range(6000)]
    rows += CN_ROWS
    path = write_csv(tmp_path / "late.csv", ["id", "time", "title", "text", "district", "label"], rows, "gbk")
    assert detect_encoding(path) == "gb18030"
    df = read_complaints(path)
    assert df["text"].iloc[-1] == "解放路的路灯坏了半个月了。"


def test_explicit_columns_and_clear_error_for_unknown_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "log.csv", ["编号", "正文", "类"], [["1", "垃圾没人清运", "市容环卫"]])
    df = read_complaints(
        path, ReaderOptions(columns=ColumnMap(text="正文", label="类"), require=("text", "label"))
    )
    assert df.loc[0, "text"] == "垃圾没人清运" and df.loc[0, "label"] == "市容环卫"
    with pytest.raises(ColumnNotFoundError) as err:
        read_complaints(path, ReaderOptions(columns=ColumnMap(text="内容详情")))
    msg = str(err.value)
    assert "log.csv" in msg and "内容详情" in msg and "--text-column" in msg and "正文" in msg


def test_missing_required_column_names_the_option(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "log.csv", ["诉求内容"], [["垃圾没人清运"]])
    with pytest.raises(ColumnNotFoundError, match="--label-column"):
        read_complaints(path, ReaderOptions(require=("text", "label")))


def test_malformed_rows_go_to_rejects_with_reasons(tmp_path: Path) -> None:
    lines = [
        "id,time,title,text,label",
        "1,2026-05-01 10:00,标题,正常的投诉内容,市容环卫",
        "2,2026-05-01 11:00,标题,   ,市容环卫",
        "3,昨天下午,标题,时间写错了 联系13912345678,市容环卫",
        "4,2026-05-01 12:00,标题,多了一个字段,市容环卫,多余",
        "5,2026-05-01 13:00,标题,少了字段",
        "6,2026-05-01 14:00,标题,没有标签,",
        "7,2026-13-45 10:00,标题,月份不存在,市容环卫",
        "8,2026-05-02 09:00,标题,又一条正常的,噪音扰民",
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rejects_path = tmp_path / "rejects.csv"
    with RejectsWriter(rejects_path) as rejects:
        reader = ComplaintReader(path, ReaderOptions(require=("text", "label")), rejects=rejects)
        df = pd.concat(chunk.records for chunk in reader)
    assert list(df["id"]) == ["1", "8"]
    assert reader.rows_read == 8 and reader.rows_rejected == 6
    rej = pd.read_csv(rejects_path, dtype=str, encoding="utf-8-sig").fillna("")
    by_row = dict(zip(rej["row"].astype(int), rej["reason"], strict=True))
    assert by_row[2] == "empty text"
    assert by_row[3].startswith("unparseable time") and "昨天下午" in by_row[3]
    assert "expected 5 fields, found 6" in by_row[4]
    assert "expected 5 fields, found 4" in by_row[5]
    assert by_row[6] == "empty label"
    assert by_row[7].startswith("unparseable time")
    assert set(rej["file"]) == {str(path)}
    assert dict(zip(rej["row"].astype(int), rej["kind"], strict=True)) == {
        2: "empty_text",
        3: "unparseable_time",
        4: "field_count",
        5: "field_count",
        6: "empty_label",
        7: "unparseable_time",
    }
    assert "13912345678" not in rejects_path.read_text(encoding="utf-8-sig")
    assert dict(zip(rej["row"].astype(int), rej["column"], strict=True))[3] == "time"


def test_unclosed_quote_is_reported_not_swallowed(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text('id,text\n1,好的\n2,"没有闭合的引号\n3,后面的行\n', encoding="utf-8")
    rejects = RejectsWriter(tmp_path / "r.csv")
    df = pd.concat(c.records for c in ComplaintReader(path, rejects=rejects))
    rejects.close()
    assert list(df["id"]) == ["1"]
    assert rejects.count == 1
    assert "malformed CSV" in (tmp_path / "r.csv").read_text(encoding="utf-8-sig")


def test_every_row_bad_is_a_clear_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "empty.csv", ["text"], [[""], ["  "]])
    with pytest.raises(InputFileError, match="no usable rows"):
        read_complaints(path)


def test_chunks_are_bounded_and_rows_numbered(tmp_path: Path) -> None:
    rows = [[str(i), f"第{i}条投诉"] for i in range(1, 2501)]
    path = write_csv(tmp_path / "big.csv", ["id", "text"], rows)
    chunks = list(ComplaintReader(path, ReaderOptions(chunk_size=1000)))
    assert [len(c.records) for c in chunks] == [1000, 1000, 500]
    assert chunks[1].records["row"].iloc[0] == 1001
    assert list(chunks[2].source.columns) == ["id", "text"]
    skipped = list(ComplaintReader(path, ReaderOptions(chunk_size=1000), skip_rows=2400))
    assert skipped[0].records["row"].iloc[0] == 2401 and sum(len(c.records) for c in skipped) == 100


@pytest.mark.parametrize("ext", ["csv", "tsv", "jsonl", "xlsx", "parquet"])
def test_round_trip_every_format(tmp_path: Path, ext: str) -> None:
    frame = pd.DataFrame(
        {
            "工单编号": ["A1", "A2", "A3"],
            "来电时间": ["2026-05-01 08:00:00", "2026-05-02 09:30:00", "2026-05-03 18:45:00"],
            "诉求内容": ["小区垃圾堆积", "夜间施工噪音，电话0571-87654321", "井盖缺失"],
            "一级分类": ["市容环卫", "噪音扰民", "市政设施"],
            "点赞数": [1, 25, 0],
        }
    )
    path = write_table(frame, tmp_path / f"log.{ext}")
    assert detect_format(path) == ext
    assert count_rows(path) == 3
    chunks = list(ComplaintReader(path, ReaderOptions(require=("text", "label"))))
    df = pd.concat(c.records for c in chunks)
    assert list(df["id"]) == ["A1", "A2", "A3"]
    assert list(df["label"]) == ["市容环卫", "噪音扰民", "市政设施"]
    assert df["time"].iloc[2] == pd.Timestamp("2026-05-03 18:45:00")
    assert "[电话]" in df["text"].iloc[1]
    source = pd.concat(c.source for c in chunks)
    assert list(source.columns) == list(frame.columns)


def test_table_writer_appends_chunks_and_resumes_csv(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with TableWriter(path) as w:
        w.write(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    with TableWriter(path, append=True) as w:
        w.write(pd.DataFrame({"a": [3], "b": ["z"]}))
    df = pd.read_csv(path, encoding="utf-8-sig")
    assert list(df["a"]) == [1, 2, 3]
    with pytest.raises(ValueError, match="cannot append"):
        TableWriter(tmp_path / "x.parquet", append=True)


def test_parquet_writer_handles_null_first_chunk(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    with TableWriter(path) as w:
        w.write(pd.DataFrame({"a": ["1"], "note": [None]}))
        w.write(pd.DataFrame({"a": ["2"], "note": ["有内容"]}))
    assert list(pd.read_parquet(path)["note"]) == [None, "有内容"]


def test_jsonl_bad_lines_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    lines = [
        json.dumps({"id": 1, "text": "好的"}, ensure_ascii=False),
        "{not json",
        "[1, 2]",
        json.dumps({"id": 4, "text": "也好", "extra": "新字段"}, ensure_ascii=False),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rejects = RejectsWriter(None)
    df = pd.concat(c.records for c in ComplaintReader(path, rejects=rejects))
    assert list(df["id"]) == ["1", "4"]
    assert rejects.count == 2 and rejects.reasons == {"invalid_json": 1, "not_an_object": 1}


def test_parse_times_lenient_formats() -> None:
    values = pd.Series(
        [
            "2019/2/28 11:25:05",
            "2019-02-28",
            "2026年5月3日 14时5分",
            "45000",
            "1767225600",
            "",
            None,
            "下午三点",
        ]
    )
    parsed, bad = parse_times(values)
    assert parsed[0] == pd.Timestamp("2019-02-28 11:25:05")
    assert parsed[2] == pd.Timestamp("2026-05-03 14:05:00")
    assert parsed[3] == pd.Timestamp("2023-03-15")  # Excel serial day
    assert parsed[4] == pd.Timestamp("2026-01-01")
    assert pd.isna(parsed[5]) and pd.isna(parsed[6])
    assert list(bad) == [False, False, False, False, False, False, False, True]


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="unknown file type"):
        detect_format(tmp_path / "log.doc")
    with pytest.raises(InputFileError, match="file not found"):
        ComplaintReader(tmp_path / "nope.csv")


def test_iter_texts_joins_title_and_text(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "log.csv", ["title", "text"], [["噪音", "工地夜间施工"], ["", "只有正文"]])
    assert list(iter_texts(path)) == ["噪音。工地夜间施工", "只有正文"]


def test_real_teddy_messages_parse(tmp_path: Path) -> None:
    from tests.conftest import shared_dataset

    path = shared_dataset("teddy2020", "messages.csv")
    df = read_complaints(path, rejects=tmp_path / "r.csv")
    assert len(df) == 4326
    assert df["time"].notna().all()
    assert df["time"].min().year >= 2017

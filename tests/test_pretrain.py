"""Domain-adaptive pretraining (``hotline pretrain``) with the tiny BERT on the sample complaints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from common.errors import ConfigError
from hotline.cli import app
from training.mlm import MlmCollator, MlmMasker, masked_lm_module, tokenize_words
from training.pretrain import CONFIG_FILE, METRICS_FILE, PretrainConfig, load_mlm_model, pretrain, read_corpus

runner = CliRunner()


@pytest.fixture
def corpus(samples_dir: Path, tmp_path: Path) -> Path:
    """The first 48 sample complaints, without labels: a corpus that trains in seconds."""
    frame = pd.read_csv(samples_dir / "complaints.csv", dtype=str).head(48)
    path = tmp_path / "corpus.csv"
    frame[["id", "title", "text"]].to_csv(path, index=False)
    return path


def config(corpus: Path, base: Path, out: Path, **changes: object) -> PretrainConfig:
    settings: dict[str, object] = {
        "corpus": [str(corpus)],
        "base_model": str(base),
        "output_dir": str(out),
        "max_length": 48,
        "batch_size": 8,
        "eval_texts": 8,
        "learning_rate": 1e-3,
        "warmup_ratio": 0.0,
        "max_steps": 4,
    }
    return PretrainConfig(**{**settings, **changes})


def test_whole_word_masking_masks_every_piece_of_a_chosen_word(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    texts = ["小区门口垃圾清运不及时，占道经营严重，噪音扰民。"] * 40
    ds = tokenize_words(texts, tok, max_length=64, cache_dir=tmp_path)
    row = ds[0]
    words = np.array(row["word_ids"])
    assert words[0] == -1 and words[-1] == -1  # [CLS], [SEP]
    assert len(set(words[words >= 0])) < (words >= 0).sum()  # some word has several pieces
    batch = MlmCollator(0)([ds[i] for i in range(len(ds))])
    masker = MlmMasker(tok, 0.15, seed=3)
    inputs, labels = masker(batch, (0, 0))
    ids, wid = batch["input_ids"].numpy(), batch["word_ids"].numpy()
    lab = labels.numpy()
    n_words = len(set(words[words >= 0]))
    for r in range(len(texts)):
        chosen = set(wid[r][lab[r] != -100])
        assert len(chosen) == round(0.15 * n_words)
        for w in chosen:  # all pieces of a chosen word are targets, with their original ids
            assert (lab[r][wid[r] == w] == ids[r][wid[r] == w]).all()
        assert (lab[r][wid[r] == -1] == -100).all()  # never a special token or padding
    targets = lab != -100
    masked = (inputs.numpy() == tok.mask_token_id) & targets
    assert 0.6 < masked.sum() / targets.sum() < 0.95  # 80% [MASK], the rest random or kept
    again, _ = masker(batch, (0, 0))
    other, _ = masker(batch, (0, 1))
    assert (again == inputs).all() and not (other == inputs).all()


def test_corpus_excludes_test_texts_and_ids_and_holds_some_out(corpus: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(corpus, dtype=str)
    test = tmp_path / "test.csv"
    frame.head(5).to_csv(test, index=False)
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(frame["id"].iloc[5:8]) + "\n", encoding="utf-8")
    cfg = config(corpus, tmp_path, tmp_path / "out", exclude=[str(test)], exclude_ids=str(ids))
    result = read_corpus(cfg)
    assert result.counts["excluded_text"] == 5 and result.counts["excluded_id"] == 3
    assert len(result.train) + len(result.held_out) == 40 and len(result.held_out) == 8
    assert not set(result.train) & set(result.held_out)
    excluded_text = str(frame["text"].iloc[0])
    assert not any(excluded_text in t for t in result.train + result.held_out)


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mlm_head_init"):
        PretrainConfig(corpus=["a.csv"], base_model="b", output_dir="o", mlm_head_init="zeros")
    with pytest.raises(ConfigError, match="corpus"):
        PretrainConfig(corpus=[], base_model="b", output_dir="o")
    with pytest.raises(ConfigError, match="exclude_ids"):
        read_corpus(
            PretrainConfig(corpus=["a.csv"], base_model="b", output_dir="o", exclude_ids=str(tmp_path / "no"))
        )


@pytest.mark.slow
def test_mlm_loss_falls_on_a_fixed_batch(corpus: Path, tiny_bert_dir: Path, tmp_path: Path) -> None:
    import torch

    cfg = config(corpus, tiny_bert_dir, tmp_path / "out")
    mlm, tok, initialised = load_mlm_model(cfg)
    assert initialised  # the tiny BERT is saved as BertModel, without an MLM head
    torch.testing.assert_close(mlm.cls.predictions.transform.dense.weight, torch.eye(32))
    assert mlm.cls.predictions.decoder.weight.data_ptr() == mlm.get_input_embeddings().weight.data_ptr()
    ds = tokenize_words(read_corpus(cfg).train[:8], tok, max_length=48, cache_dir=tmp_path)
    batch = MlmCollator(tok.pad_token_id)([ds[i] for i in range(len(ds))])
    inputs, labels = MlmMasker(tok, 0.15, seed=0)(batch, (0, 0))
    module = masked_lm_module(mlm)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        total, n = module(inputs, batch["attention_mask"], labels)
        loss = total / n
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 0.05, losses


@pytest.mark.slow
def test_pretrain_writes_a_base_model_that_hotline_train_accepts(
    corpus: Path, tiny_bert_dir: Path, samples_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "adapted"
    result = runner.invoke(
        app,
        ["pretrain", "--corpus", str(corpus), "--base-model", str(tiny_bert_dir), "-o", str(out),
         "--max-length", "48", "--batch-size", "8", "--eval-texts", "8", "--lr", "1e-3",
         "--warmup-ratio", "0", "--max-steps", "5"],
    )  # fmt: skip
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    metrics = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
    assert metrics["steps"] == 5 and metrics["mlm_head_initialised"] is True
    assert metrics["eval_mlm_loss_after"] < metrics["eval_mlm_loss_before"]
    assert PretrainConfig.load(out / CONFIG_FILE).max_steps == 5
    assert "held-out MLM loss" in (out / "README.md").read_text(encoding="utf-8")
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()

    model = tmp_path / "classifier"
    result = runner.invoke(
        app,
        ["train", "--train", str(samples_dir / "complaints.csv"), "-o", str(model), "--base-model", str(out),
         "--max-length", "48", "--epochs", "1", "--max-steps", "2", "--batch-size", "8"],
    )  # fmt: skip
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    assert json.loads((model / "hotline.json").read_text(encoding="utf-8"))["model_type"] == "transformer"


@pytest.mark.slow
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(
    corpus: Path, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from safetensors.numpy import load_file

    common = {"max_steps": 6, "checkpoint_steps": 3, "keep_checkpoints": 5}
    full = pretrain(config(corpus, tiny_bert_dir, tmp_path / "a", **common))
    mid = tmp_path / "a" / "checkpoints" / "step-0000003"
    resumed = pretrain(config(corpus, tiny_bert_dir, tmp_path / "b", resume_from=str(mid), **common))
    a = load_file(str(tmp_path / "a" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert resumed.metrics["eval_mlm_loss_after"] == full.metrics["eval_mlm_loss_after"]
    assert [h["eval_mlm_loss"] for h in resumed.state.history] == [
        h["eval_mlm_loss"] for h in full.state.history
    ]

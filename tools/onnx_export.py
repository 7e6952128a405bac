"""Export a transformer classifier to ONNX Runtime, optionally quantised to int8.

``hotline export --onnx`` writes a model directory of type ``onnx`` (``hotline.json``,
``model.onnx``, the tokenizer, ``config.json`` with the labels, ``export.json``) that
:class:`nlp.engine.InferenceEngine` loads like any other. Calibration (temperature) and review
thresholds are copied from the source model: they were fitted on its probabilities, and the
agreement check below says how far the exported model strays from them.

Exporter choice: torch 2.13 defaults to the ``torch.export`` (dynamo) exporter, which needs the
``onnxscript`` package; the TorchScript tracer (``dynamo=False``) needs nothing extra and
handles BERT/XLM-R with dynamic batch and sequence axes. Tracing bakes in Python branches, so
the example batch carries padding: transformers skips building the attention mask when a mask
is all ones, and a trace of that shortcut would ignore padding forever after.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import HotlineError, ModelNotFoundError
from common.files import atomic_write_json
from nlp.classifier import ONNX_FILE, ModelInfo, resolve_model_dir
from nlp.transformer import OnnxClassifier, TransformerClassifier

logger = logging.getLogger(__name__)

OPSET = 17
EXPORT_FILE = "export.json"
_PROBE_TEXTS = (
    "小区门口道路破损严重，下雨天积水，希望尽快维修。",
    "工地夜间施工噪音扰民",
    "咨询社保卡补办流程",
    "楼上住户长期在阳台焚烧垃圾，烟雾很大，多次沟通无果，请相关部门处理。" * 6,
)


@dataclass
class ExportReport:
    """What an export did, and how far the exported model strays from the source."""

    source: str
    output: str
    quantized: bool
    opset: int
    max_abs_logit_diff: float
    probe_agreement: float
    model_bytes: int
    evaluation: dict[str, Any] | None = None
    fused_ops: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        lines = [
            f"exported {self.source} -> {self.output} ({'int8 dynamic' if self.quantized else 'fp32'}, "
            f"opset {self.opset}, {self.model_bytes / 2**20:.1f} MiB)"
            + (
                f"; fused: {', '.join(f'{k} x{v}' for k, v in self.fused_ops.items())}"
                if self.fused_ops
                else ""
            ),
            f"probe texts: max |logit diff| {self.max_abs_logit_diff:.2e}, "
            f"argmax agreement {self.probe_agreement:.0%}",
        ]
        ev = self.evaluation
        if ev:
            lines.append(
                f"evaluation on {ev['file']} ({ev['rows']} rows): "
                f"accuracy {ev['before']['accuracy']:.4f} -> {ev['after']['accuracy']:.4f}, "
                f"macro-F1 {ev['before']['macro_f1']:.4f} -> {ev['after']['macro_f1']:.4f} "
                f"(change {100 * (ev['after']['macro_f1'] - ev['before']['macro_f1']):+.2f} points), "
                f"agreement {ev['agreement']:.4f}"
            )
        lines.extend(self.notes)
        return "\n".join(lines)


class _LogitsOnly:
    """Wraps a sequence classifier so the traced graph has two inputs and one output."""

    def __new__(cls, model: Any) -> Any:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

        # eval() on the wrapper matters: the exporter restores the wrapper's train/eval mode
        # afterwards, recursively, and a fresh Module is in train mode (dropout on).
        return Wrapper(model).eval()


def export_onnx(
    model_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    quantize: bool = False,
    optimize: bool = True,
    opset: int = OPSET,
) -> ExportReport:
    """Write an ``onnx`` model directory from a ``transformer`` model directory (or registry)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    src = resolve_model_dir(model_dir)
    info = ModelInfo.load(src)
    if info.model_type != "transformer":
        raise ModelNotFoundError(
            f"{src} is a {info.model_type} model; --onnx exports transformer models only "
            "(TF-IDF models are already fast; export a fusion model's transformer/ part on its own)"
        )
    out = Path(output_dir)
    if out.resolve() == src.resolve():
        raise HotlineError("the export must not overwrite the source model; choose another -o directory")
    out.mkdir(parents=True, exist_ok=True)

    # Eager attention exports to plain MatMul/Softmax, which ONNX Runtime's optimiser fuses.
    model = AutoModelForSequenceClassification.from_pretrained(src, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(src)
    reference = TransformerClassifier(model, tokenizer, info)
    example_ids, _ = reference.encode(list(_PROBE_TEXTS[:2]))
    example = reference.collate(example_ids)
    if bool(example["attention_mask"].all()):  # pragma: no cover - the probes differ in length
        raise RuntimeError("the export example must contain padding")

    with tempfile.TemporaryDirectory(prefix="hotline-onnx-") as tmp:
        fp32_path = Path(tmp) / "model.fp32.onnx"
        with warnings.catch_warnings():
            # The TorchScript exporter warns about its own deprecation and about traced branches
            # (handled above by exporting with padding); neither is actionable for a user.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _LogitsOnly(model),
                (example["input_ids"], example["attention_mask"]),
                str(fp32_path),
                dynamo=False,
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "logits": {0: "batch"},
                },
                opset_version=opset,
                do_constant_folding=True,
            )
        _merge_external_data(fp32_path)
        fused: dict[str, int] = {}
        if optimize:
            fp32_path, fused = _fuse_transformer_ops(fp32_path, model.config, Path(tmp))
        target = out / ONNX_FILE
        if quantize:
            _quantize(fp32_path, target, Path(tmp), preprocess=not fused)
        else:
            shutil.move(str(fp32_path), target)

    tokenizer.save_pretrained(out)
    model.config.id2label = dict(enumerate(info.labels))
    model.config.label2id = {label: i for i, label in enumerate(info.labels)}
    model.config.save_pretrained(out)
    suffix = "onnx-int8" if quantize else "onnx"
    exported = ModelInfo.from_dict(
        {
            **info.to_dict(),
            "model_type": "onnx",
            "version": f"{info.version}+{suffix}" if info.version else suffix,
            "name": f"{info.name or src.name} ({suffix})",
        }
    )
    exported.save(out)

    onnx_clf = OnnxClassifier.load(out)
    probe = list(_PROBE_TEXTS)
    before = reference.logits(probe)
    after = onnx_clf.logits(probe)
    report = ExportReport(
        source=str(src),
        output=str(out),
        quantized=quantize,
        opset=opset,
        max_abs_logit_diff=float(np.abs(before - after).max()),
        probe_agreement=float((before.argmax(1) == after.argmax(1)).mean()),
        model_bytes=target.stat().st_size,
        fused_ops=fused,
    )
    if not quantize and report.max_abs_logit_diff > 1e-3:
        report.notes.append(
            f"warning: fp32 ONNX logits differ from torch by {report.max_abs_logit_diff:.2e}; check the export"
        )
    write_report(report, out)
    logger.info("exported ONNX model", extra={"output": str(out), "quantized": quantize})
    return report


def _merge_external_data(path: Path) -> None:
    """Keep the graph in one file: models under 2 GB need no external data files."""
    import onnx

    model = onnx.load(str(path), load_external_data=True)
    for extra in path.parent.iterdir():
        if extra != path and extra.suffix != ".onnx":
            extra.unlink()
    onnx.save_model(model, str(path), save_as_external_data=False)


def _fuse_transformer_ops(path: Path, config: Any, tmp: Path) -> tuple[Path, dict[str, int]]:
    """ONNX Runtime's transformer optimiser: fused Attention, SkipLayerNorm, BiasGelu kernels.

    On CPU the fused attention kernel is the largest single win; it needs the head count and
    width from the config because the traced graph's reshapes hide them.
    """
    from onnxruntime.transformers.optimizer import optimize_model

    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    try:
        optimized = optimize_model(
            str(path), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1
        )
    except Exception:  # an unknown architecture: the plain graph is still correct, only slower
        logger.warning(
            "ONNX Runtime's transformer optimiser failed; keeping the unfused graph", exc_info=True
        )
        return path, {}
    stats = {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}
    out = tmp / "model.fused.onnx"
    optimized.save_model_to_file(str(out))
    return out, stats


def _preprocess(path: Path, tmp: Path) -> Path:
    """Shape inference + graph optimisation before quantisation, as ONNX Runtime recommends."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = tmp / "model.pre.onnx"
    for symbolic in (True, False):
        try:
            # Symbolic shape inference gives up on some exports (a Min(512, sequence) slice);
            # plain ONNX shape inference plus the optimiser still helps.
            quant_pre_process(str(path), str(pre), skip_symbolic_shape=not symbolic)
            return pre
        except Exception:
            logger.debug("quantisation pre-processing (symbolic=%s) failed", symbolic, exc_info=True)
    logger.warning("ONNX pre-processing failed; quantising the unoptimised graph")
    return path


def _quantize(
    fp32_path: Path, target: Path, tmp: Path, *, preprocess: bool = True, per_channel: bool = True
) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # A graph from the transformer optimiser is already optimised and shaped.
    source = _preprocess(fp32_path, tmp) if preprocess else fp32_path
    # onnxruntime.quantization logs every skipped tensor at INFO on the root logger, and asks
    # for pre-processing that the fused graph does not need; keep its real warnings.
    head = _head_nodes(source)
    quiet = _QuantizerNoise(skip_preprocess_hint=not preprocess)
    logging.root.addFilter(quiet)
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            # Per-channel scales keep the fine-tuned Teddy model's predictions (98.8% agreement
            # with fp32 against 94.6% per-tensor, at the same speed on an idle AVX2 EPYC), and
            # reduce_range (7-bit weights) avoids the u8s8 16-bit saturation of AVX2's
            # VPMADDUBSW that ONNX Runtime warns about.
            per_channel=per_channel,
            reduce_range=True,
            # Quantising the embedding table (Gather) costs accuracy on a 250k-token vocabulary
            # and buys no speed: lookups are not matrix products.
            op_types_to_quantize=["MatMul", "Gemm", "Attention"],
            # The classification head is tiny and every error in it lands directly on the logits.
            nodes_to_exclude=head,
            # Fused com.microsoft ops carry no type information for shape inference.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        logging.root.removeFilter(quiet)


class _QuantizerNoise(logging.Filter):
    def __init__(self, *, skip_preprocess_hint: bool) -> None:
        super().__init__()
        self.skip_preprocess_hint = skip_preprocess_hint

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        return not (
            self.skip_preprocess_hint and str(record.msg).startswith("Please consider to run pre-processing")
        )


def _head_nodes(path: Path) -> list[str]:
    """Names of the nodes that compute the graph outputs (the classifier layer)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producers = {out: node for node in graph.node for out in node.output}
    names: list[str] = []
    for output in graph.output:
        node = producers.get(output.name)
        if node is None:
            continue
        names.append(node.name)
        if node.op_type == "Add":  # MatMul + Add form of a Linear layer
            for inp in node.input:
                prev = producers.get(inp)
                if prev is not None and prev.op_type == "MatMul":
                    names.append(prev.name)
    return names


def write_report(report: ExportReport, directory: str | os.PathLike[str]) -> Path:
    return atomic_write_json(Path(directory) / EXPORT_FILE, report.to_dict())


def evaluate_pair(
    before_dir: str | os.PathLike[str],
    after_dir: str | os.PathLike[str],
    eval_file: str | os.PathLike[str],
    *,
    reader_options: Any = None,
    engine_config: Any = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Accuracy and macro-F1 of two models on a labelled file, and how often they agree."""
    from ingest.options import ReaderOptions
    from ingest.readers import read_complaints
    from nlp.engine import EngineConfig, InferenceEngine
    from nlp.text import join_title_text

    opts = reader_options or ReaderOptions()
    opts = opts.replace(require=tuple(dict.fromkeys((*opts.require, "text", "label"))))
    frame = read_complaints(eval_file, opts)
    if limit is not None:
        frame = frame.head(limit)
    texts = [join_title_text(t, x) for t, x in zip(frame["title"], frame["text"], strict=True)]
    gold = frame["label"].tolist()
    config = engine_config or EngineConfig()
    before = InferenceEngine.load(before_dir, config)
    after = InferenceEngine.load(after_dir, config)
    unknown = sorted(set(gold) - set(before.labels))
    if unknown:
        raise HotlineError(
            f"{eval_file}: labels {unknown[:5]} are not among the model's labels {before.labels}; "
            "evaluate on a file labelled with the same categories"
        )
    pred_before = [before.labels[i] for i in before.predict_arrays(texts).top]
    pred_after = [after.labels[i] for i in after.predict_arrays(texts).top]
    return {
        "file": str(eval_file),
        "rows": len(texts),
        "before": classification_scores(gold, pred_before, before.labels),
        "after": classification_scores(gold, pred_after, before.labels),
        "agreement": round(float(np.mean([a == b for a, b in zip(pred_before, pred_after, strict=True)])), 4),
    }


def classification_scores(gold: list[str], pred: list[str], labels: list[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": round(float(accuracy_score(gold, pred)), 4),
        "macro_f1": round(float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)), 4),
    }

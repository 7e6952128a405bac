"""A model registry on a plain directory: versions, a ``current`` pointer, a changelog.

Layout::

    REGISTRY/
      current            one line, e.g. "v3": the version in service (a file, not a symlink, so it
                         works on Windows shares and object-store mounts)
      v1/ v2/ v3/ ...    model directories (what `hotline train -o DIR` writes, minus checkpoints);
                         each hotline.json carries its version
      eval.parquet       the fixed evaluation set champion and challenger are compared on
                         (masked text); it grows by the held-out new data when a retrained model
                         with new categories is promoted
      CHANGELOG.jsonl    one JSON object per event (init, add, promote, reject, rollback) with
                         time, version, metrics and sha256 fingerprints of the data
      CHANGELOG.md       the same, for people

``nlp.classifier.load_classifier(REGISTRY)`` and ``resolve_model_dir(REGISTRY)`` follow
``current``. Writes go through a temporary file and ``os.replace`` so a reader never sees a
half-written pointer; one writer at a time is assumed (retraining is an operator's job, not a
service's).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from common.errors import ConfigError, ModelNotFoundError
from common.files import atomic_write_text
from common.jsonsafe import dumps
from nlp.classifier import INFO_FILE, REGISTRY_POINTER, ModelInfo

logger = logging.getLogger(__name__)

CHANGELOG = "CHANGELOG.jsonl"
CHANGELOG_MD = "CHANGELOG.md"
EVAL_SET = "eval.parquet"
_VERSION = re.compile(r"^v(\d+)$")
# What a version directory does not need: training state (large) and run-time leftovers.
_SKIP = ("checkpoints",)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def is_registry(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return (p / REGISTRY_POINTER).is_file() or (p / CHANGELOG).is_file()


class ModelRegistry:
    """Versions of one classifier in a directory; see the module docstring."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # -- reading -------------------------------------------------------------------------------

    def exists(self) -> bool:
        return is_registry(self.root)

    def require(self) -> ModelRegistry:
        if not self.exists():
            raise ModelNotFoundError(
                f"{self.root} is not a model registry (no `{REGISTRY_POINTER}` or {CHANGELOG}); create one "
                f"with `hotline retrain --model MODEL_DIR --new FILE --registry {self.root}`"
            )
        return self

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = [p.name for p in self.root.iterdir() if _VERSION.match(p.name) and (p / INFO_FILE).is_file()]
        return sorted(found, key=lambda v: int(v[1:]))

    def current(self) -> str | None:
        pointer = self.root / REGISTRY_POINTER
        if not pointer.is_file():
            return None
        return pointer.read_text(encoding="utf-8").strip() or None

    def path(self, version: str) -> Path:
        if version not in self.versions():
            raise ModelNotFoundError(
                f"no version {version!r} in {self.root}; versions: {', '.join(self.versions()) or 'none'} "
                f"(see `hotline model list --registry {self.root}`)"
            )
        return self.root / version

    def current_path(self) -> Path:
        version = self.current()
        if version is None:
            raise ModelNotFoundError(
                f"registry {self.root} has no current version; promote one with "
                f"`hotline model promote VERSION --registry {self.root}`"
            )
        return self.path(version)

    def next_version(self) -> str:
        numbers = [int(v[1:]) for v in self.versions()]
        # Versions written but never finished (a crash mid-training) still take their number.
        numbers += [int(m[1]) for p in self.root.glob("v*") if (m := _VERSION.match(p.name))]
        return f"v{max(numbers, default=0) + 1}"

    def history(self) -> list[dict[str, Any]]:
        path = self.root / CHANGELOG
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def eval_set(self) -> pd.DataFrame | None:
        path = self.root / EVAL_SET
        return pd.read_parquet(path) if path.is_file() else None

    def status(self, version: str) -> str:
        """promoted, rejected or candidate: the last decision recorded for ``version``."""
        state = "candidate"
        for event in self.history():
            if event.get("version") != version:
                continue
            if event["event"] in ("promote", "init", "rollback"):
                state = "promoted"
            elif event["event"] == "reject":
                state = "rejected"
        return state

    def rows(self) -> list[dict[str, Any]]:
        """One summary row per version (``hotline model list``)."""
        current = self.current()
        compared: dict[str, float] = {}
        for event in self.history():
            cmp = event.get("comparison")
            if event.get("version") and cmp:
                compared[event["version"]] = cmp.get("challenger_macro_f1_all")
        out = []
        for version in self.versions():
            d = self.root / version
            info = ModelInfo.load(d)
            metrics = _read_json(d / "metrics.json")
            out.append(
                {
                    "version": version,
                    "current": version == current,
                    "status": self.status(version),
                    "model_type": info.model_type,
                    "labels": len(info.labels),
                    "eval_macro_f1": metrics.get("eval", {}).get("macro_f1"),
                    "registry_eval_macro_f1": compared.get(version),
                    "created_at": info.created_at,
                }
            )
        return out

    def table(self) -> str:
        """``rows()`` as the fixed-width text table ``hotline model list`` prints."""
        lines = [
            f"{'':2}{'version':<9}{'status':<11}{'type':<12}{'labels':>6}  {'eval F1':>8}  {'registry F1':>11}  created"
        ]
        for r in self.rows():
            f1 = "–" if r["eval_macro_f1"] is None else f"{r['eval_macro_f1']:.4f}"
            rf1 = "–" if r["registry_eval_macro_f1"] is None else f"{r['registry_eval_macro_f1']:.4f}"
            lines.append(
                f"{'*' if r['current'] else ' ':2}{r['version']:<9}{r['status']:<11}{r['model_type']:<12}"
                f"{r['labels']:>6}  {f1:>8}  {rf1:>11}  {r['created_at']}"
            )
        return "\n".join(lines)

    # -- writing -------------------------------------------------------------------------------

    def log(self, event: str, **fields: Any) -> dict[str, Any]:
        self.root.mkdir(parents=True, exist_ok=True)
        entry = {"time": _now(), "event": event, **fields}
        with open(self.root / CHANGELOG, "a", encoding="utf-8") as fh:
            fh.write(dumps(entry, indent=None) + "\n")
        with open(self.root / CHANGELOG_MD, "a", encoding="utf-8") as fh:
            fh.write(_markdown_entry(entry))
        return entry

    def add(self, model_dir: str | os.PathLike[str], version: str | None = None, **fields: Any) -> str:
        """Copy a model directory in as a new version (checkpoints left behind); not promoted."""
        src = Path(model_dir)
        ModelInfo.load(src)  # a clear error when it is not a model
        version = version or self.next_version()
        dest = self.root / version
        if dest.resolve() != src.resolve():
            if dest.exists():
                raise ConfigError(f"{dest} already exists; the registry's versions are never overwritten")
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*_SKIP))
        stamp_version(dest, version)
        self.log("add", version=version, source=str(src), **fields)
        return version

    def set_current(self, version: str) -> None:
        self.path(version)
        atomic_write_text(self.root / REGISTRY_POINTER, version + "\n")

    def promote(self, version: str, *, reason: str = "manual", **fields: Any) -> None:
        previous = self.current()
        self.set_current(version)
        self.log("promote", version=version, previous=previous, reason=reason, **fields)
        logger.info("registry %s: %s is now current (was %s)", self.root, version, previous)

    def reject(self, version: str, **fields: Any) -> None:
        self.log("reject", version=version, current=self.current(), **fields)

    def promotion_stack(self) -> list[str]:
        """Versions that were current, oldest first, as promotions and rollbacks left them."""
        stack: list[str] = []
        for event in self.history():
            if event["event"] in ("init", "promote"):
                if not stack or stack[-1] != event["version"]:
                    stack.append(event["version"])
            elif event["event"] == "rollback":
                while stack and stack[-1] != event["version"]:
                    stack.pop()
                if not stack:
                    stack.append(event["version"])
        return stack

    def rollback(self, to: str | None = None) -> str:
        """Make the previously current version current again (or ``to``); returns it."""
        self.require()
        current = self.current()
        if to is None:
            stack = self.promotion_stack()
            while stack and stack[-1] == current:
                stack.pop()
            if not stack:
                raise ConfigError(
                    f"registry {self.root}: nothing to roll back to ({current} is the only version that was "
                    "ever current); promote a version explicitly with `hotline model promote VERSION`"
                )
            to = stack[-1]
        self.set_current(to)
        self.log("rollback", version=to, previous=current)
        logger.info("registry %s: rolled back from %s to %s", self.root, current, to)
        return to

    def set_eval_set(self, frame: pd.DataFrame, **fields: Any) -> None:
        from training.data import frame_sha256, save_frame

        save_frame(frame, self.root / EVAL_SET)
        self.log("eval_set", rows=len(frame), fingerprint=frame_sha256(frame), **fields)

    @classmethod
    def init_from_model(
        cls, root: str | os.PathLike[str], model_dir: str | os.PathLike[str]
    ) -> ModelRegistry:
        """A new registry whose v1 (current) is ``model_dir``; its eval split is the fixed set."""
        from training.data import EVAL_FILE

        reg = cls(root)
        if reg.exists() or reg.versions():
            raise ConfigError(
                f"{root} is already a model registry; pass --model {root} to retrain its current model"
            )
        reg.root.mkdir(parents=True, exist_ok=True)
        metrics = _read_json(Path(model_dir) / "metrics.json")
        version = reg.add(model_dir, data=_data_fingerprints(metrics), eval=_eval_summary(metrics))
        reg.set_current(version)
        reg.log("init", version=version, source=str(model_dir))
        eval_path = Path(model_dir) / EVAL_FILE
        if eval_path.is_file():
            reg.set_eval_set(pd.read_parquet(eval_path), source=f"{version} evaluation split")
        else:
            logger.warning(
                "%s has no %s: the first retrain will use its held-out new data only", model_dir, EVAL_FILE
            )
        return reg


def stamp_version(directory: Path, version: str) -> None:
    """Record the registry version in hotline.json (and in a fusion model's parts)."""
    for d in (directory, directory / "transformer", directory / "tfidf"):
        if (d / INFO_FILE).is_file():
            info = ModelInfo.load(d)
            info.version = version
            info.save(d)
    config_path = directory / "training_config.json"
    if config_path.is_file() and (directory / "metrics.json").is_file():
        from training.model_card import write_model_card

        write_model_card(
            directory,
            ModelInfo.load(directory),
            _read_json(directory / "metrics.json"),
            _read_json(config_path),
        )


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _data_fingerprints(metrics: dict[str, Any]) -> dict[str, Any]:
    data = metrics.get("data", {})
    keys = ("train_file", "train_sha256", "train_rows", "train_fingerprint", "eval_rows", "eval_fingerprint")
    return {k: data[k] for k in keys if k in data}


def _eval_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    ev = metrics.get("eval", {})
    return {k: ev[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1") if k in ev}


def _markdown_entry(entry: dict[str, Any]) -> str:
    head = f"- {entry['time']} **{entry['event']}** {entry.get('version', '')}"
    details = []
    if entry.get("previous"):
        details.append(f"previous {entry['previous']}")
    if entry.get("reason"):
        details.append(str(entry["reason"]))
    cmp = entry.get("comparison")
    if cmp:
        details.append(
            f"macro-F1 on shared labels: champion {cmp['champion_macro_f1']:.4f}, challenger "
            f"{cmp['challenger_macro_f1']:.4f} (tolerance {cmp['tolerance']})"
        )
    ev = entry.get("eval")
    if ev and "macro_f1" in ev:
        details.append(f"eval macro-F1 {ev['macro_f1']:.4f}")
    data = entry.get("data") or {}
    for key in ("train_sha256", "new_sha256"):
        if key in data:
            details.append(f"{key} {str(data[key])[:12]}")
    if entry.get("rows") is not None:
        details.append(f"{entry['rows']} rows")
    return head + (": " + "; ".join(details) if details else "") + "\n"

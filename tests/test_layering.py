"""The package's boundaries: oma_analysis imports nothing from the ML backend (the backend imports
from oma_analysis, never the other way), and no path climbs out of the installed package."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import oma_analysis

PKG = Path(oma_analysis.__file__).resolve().parent
SOURCES = sorted(PKG.rglob("*.py"))
BACKEND = "ml_backend"


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)):
            out.append((node.lineno, str(node.args[0].value)))
    return out


def test_no_module_imports_the_backend_in_its_source() -> None:
    assert len(SOURCES) > 100  # the scan really walks the package
    bad = [f"{p.relative_to(PKG.parent)}:{line}: {name}" for p in SOURCES
           for line, name in _imports(ast.parse(p.read_text(encoding="utf-8"), str(p)))
           if name == BACKEND or name.startswith(BACKEND + ".")]
    assert not bad, "oma_analysis must not import ml_backend (move what it needs into oma_analysis):\n" + "\n".join(bad)


def test_importing_every_module_loads_no_backend_module() -> None:
    """Each module imported in a fresh interpreter: none brings ml_backend into sys.modules."""
    code = f"""
import importlib, json, pkgutil, sys
import oma_analysis
skip = {{"oma_analysis.__main__"}}  # the CLI (ls_env/, no __init__, runs in Label Studio's environment)
mods = [m.name for m in pkgutil.walk_packages(oma_analysis.__path__, "oma_analysis.") if m.name not in skip]
for m in mods:
    importlib.import_module(m)
print(json.dumps({{"n": len(mods), "backend": sorted(k for k in sys.modules if k.split(".")[0] == {BACKEND!r})}}))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         cwd=PKG.parent)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["n"] > 100
    assert out["backend"] == []


# `Path(__file__).parents[N]` / `.parent.parent`: a file found relative to the source tree, which is
# not there once the package is installed (site-packages). Take it from an argument or the environment
# (oma_analysis.locations) instead.
CLIMB = re.compile(r"parents\s*\[|\.parent\s*\.\s*parent\b|['\"]\.\.['\"/\\\\]")


def test_no_path_climbs_out_of_the_package() -> None:
    bad = [f"{p.relative_to(PKG.parent)}:{i}: {line.strip()}" for p in SOURCES
           for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if CLIMB.search(line)]
    assert not bad, "paths that climb out of the installed package:\n" + "\n".join(bad)


def test_the_climb_pattern_catches_the_old_forms() -> None:
    for line in ('Path(__file__).resolve().parents[3] / "shared"', "Path(__file__).parent.parent / 'x'",
                 "Path(__file__).resolve().parent / '..' / 'shared'"):
        assert CLIMB.search(line), line
    assert not CLIMB.search('Path(__file__).resolve().parent / "rubric.yaml"')
    assert not CLIMB.search('"..." and "..x"')


def test_generators_are_built_only_by_make_generator() -> None:
    """`oma generate`, `oma run` (both through generate.runner.run) and the probes get their
    generator from the one constructor: no other module instantiates a generator class."""
    from oma_analysis.generate import backends

    classes = {n for n, v in vars(backends).items() if isinstance(v, type) and hasattr(v, "generate")}
    assert {"HFGenerator", "OpenAIGenerator"} <= classes
    bad = []
    for p in SOURCES:
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in classes:
                where = p.relative_to(PKG)
                if str(where) != "generate/backends.py":
                    bad.append(f"{where}:{node.lineno}")
    assert not bad, bad
    runner = (PKG / "generate" / "runner.py").read_text(encoding="utf-8")
    assert "make_generator(model_spec)" in runner

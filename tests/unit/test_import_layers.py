"""The import contract of ``include/biomass``: layers, lowest first, and every arrow points down or sideways.

``LAYERS`` is the one written-down copy of the layering (docs/architecture.md draws it). A module may import a
module of its own layer or of a lower one, never a higher one, and the module graph has no loop. Imports inside
functions count too: a lazy import hides a loop from Python, not from a reader.

Modules are matched by the first pattern that fits, top-down (``fnmatch``: ``biomass.dedup.*``), so specific
names go before a package's wildcard. An edge goes to the module imported: ``from biomass.lm import tokenize`` is an
edge to ``biomass.lm.tokenize``, ``from biomass.synth import synthesize_stage`` one to the ``biomass.synth``
package itself. A package's ``__init__`` that re-exports from higher modules must do it lazily (a module
``__getattr__``), as ``biomass.synth`` and ``biomass.provenance`` do, so that importing a low module of the
package does not load the high ones.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "include"

LAYERS: list[tuple[str, list[str]]] = [
    ("commands", ["biomass.cli", "biomass.cli.*"]),
    ("applications", ["biomass.experiment", "biomass.experiment_report", "biomass.observatory",
                      "biomass.observatory.*"]),
    ("publish and run", ["biomass.pipeline", "biomass.pipeline.steps", "biomass.pipeline.publishing"]),
    ("expert review", ["biomass.review", "biomass.review.*"]),
    ("pipeline steps", ["biomass.pipeline.*"]),
    ("run notes", ["biomass.run_notes"]),
    ("stages and gates", ["biomass.synth", "biomass.synth.*", "biomass.filters.pii_records", "biomass.filters.run",
                          "biomass.stages", "biomass.stages.*", "biomass.gates", "biomass.gates.*"]),
    ("provenance", ["biomass.provenance", "biomass.provenance.*"]),
    ("settings", ["biomass.config", "biomass.config.biomass_yaml", "biomass.config.experiment",
                  "biomass.config.provenance_flags"]),
    ("kernels", ["biomass.dedup", "biomass.dedup.*", "biomass.metrics", "biomass.metrics.*", "biomass.lm",
                 "biomass.lm.*", "biomass.filters", "biomass.filters.*"]),
    ("accounting", ["biomass.accounting", "biomass.profiling", "biomass.report"]),
    ("storage", ["biomass.storage", "biomass.datadocs", "biomass.manifest"]),
    ("kernel settings", ["biomass.config.*"]),
    ("foundations", ["biomass", "biomass.schema", "biomass.exitcodes", "biomass.cpus", "biomass.text", "biomass.threads",
                     "biomass.strict"]),
]
# LAYERS is written top-down and searched top-down, so a name listed high wins over a lower wildcard
# ("biomass.pipeline.publishing" before "biomass.pipeline.*"; the YAML model, read above the kernels, before
# "biomass.config.*", the sections the kernels read, which may import only foundations).
RANK = {name: len(LAYERS) - 1 - i for i, (name, _) in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer_of(module: str) -> str:
    for name, patterns in LAYERS:
        if any(fnmatchcase(module, pattern) for pattern in patterns):
            return name
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def imports_of(module: str) -> set[str]:
    """The biomass modules ``module`` imports, anywhere in its body."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "biomass")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "biomass":
                continue
            for alias in node.names:   # "from pkg import submodule" is an edge to the submodule
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    found.discard(module)
    unknown = found - set(MODULES)
    assert not unknown, f"{module} imports modules that do not exist: {sorted(unknown)}"
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_arrow_points_up():
    upward = [f"{a} ({layer_of(a)}) imports {b} ({layer_of(b)})"
              for a, targets in GRAPH.items() for b in sorted(targets) if RANK[layer_of(b)] > RANK[layer_of(a)]]
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop as a path that ends where it starts, else None (iterative depth-first search)."""
    state: dict[str, int] = {}   # 1 = on the current path, 2 = done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_no_import_loop():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import loop: " + " -> ".join(cycle)


@pytest.mark.parametrize("graph, loop", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
    ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, False),
    ({"a": {"a"}}, True),
])
def test_find_cycle_sees_loops(graph, loop):
    assert (find_cycle(graph) is not None) is loop


def test_the_checker_sees_an_upward_arrow(tmp_path):
    """The rule is not vacuous: storage importing the pipeline would be reported."""
    assert RANK[layer_of("biomass.pipeline.plan")] > RANK[layer_of("biomass.storage")]
    assert RANK[layer_of("biomass.config.provenance_flags")] > RANK[layer_of("biomass.config.provenance")]
    assert RANK[layer_of("biomass.dedup.index")] > RANK[layer_of("biomass.config.dedup")]
    assert RANK[layer_of("biomass.config.biomass_yaml")] > RANK[layer_of("biomass.filters.registry")]
    assert layer_of("biomass.lm.tokenize") == "kernels" and layer_of("biomass.synth.stage") == "stages and gates"


@pytest.mark.parametrize("module, absent", [
    ("biomass.pipeline.notes", "fastapi"),          # the writer formats run notes without loading the UI
    ("biomass.provenance.watermark", "biomass.synth"),   # the tokenisers do not pull in the synthesize stage
    ("biomass.config.metrics", "biomass.config.biomass_yaml"),   # a kernel's settings do not load the YAML model
])
def test_a_low_module_does_not_load_a_high_one(module, absent):
    import subprocess
    import sys

    code = f"import sys, {module}; print({absent!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"importing {module} loaded {absent}"

"""Every typed config model builds on the one strict base (``biomass.strict.StrictModel``): unknown keys are
errors and loaded configs are frozen everywhere, not only where someone remembered to say so."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2] / "include" / "biomass"


def test_no_model_bypasses_the_strict_base():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "strict.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and any(getattr(b, "id", getattr(b, "attr", None)) == "BaseModel"
                                                      for b in node.bases):
                offenders.append(f"{path.relative_to(ROOT)}: class {node.name}(BaseModel)")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ConfigDict":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: its own ConfigDict")
    assert not offenders, "models outside biomass.strict.StrictModel:\n" + "\n".join(offenders)


def test_the_base_forbids_unknown_keys_and_freezes():
    from biomass.config.dedup import DedupConfig
    from biomass.config.metrics import MetricsConfig

    with pytest.raises(ValidationError):
        DedupConfig(treshold=0.5)   # the typo is an error, not a silently ignored key
    with pytest.raises(ValidationError):
        MetricsConfig().rare_max_count = 9   # frozen: a step cannot change the config half-way

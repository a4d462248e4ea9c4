"""Every exception biomass defines survives pickling as itself: steps run in worker processes, and an exception
that fails to unpickle in the caller would surface as a broken pool instead of the real error."""

from __future__ import annotations

import importlib
import inspect
import pickle
from pathlib import Path

import pytest

import biomass

SKIP = ("biomass.dedup.spark",)   # imports pyspark at module level: covered where Spark is tested


def _exception_classes() -> list[type[BaseException]]:
    """Walks the files, not pkgutil: some folders (``gates``) are namespace packages that pkgutil skips."""
    found = {}
    root = Path(biomass.__file__).parent
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name in SKIP:
            continue
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == name:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


def _instance(cls: type[BaseException]) -> BaseException:
    """An instance built from placeholder arguments of the right count (strings, or a real GateResult)."""
    from biomass.gates.runner import GateFailed, GateResult

    if issubclass(cls, GateFailed):
        return cls(GateResult(gate="scrape", success=False, evaluated=1, failed=[{"expectation": "expect_column_values_to_not_be_null", "column": "text",
                                                                 "why": "no text", "observed": "1 null"}]))
    params = [p for p in inspect.signature(cls.__init__).parameters.values()
              if p.name != "self" and p.default is inspect.Parameter.empty
              and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if cls.__init__ is BaseException.__init__ or not params:
        return cls("what went wrong")
    sig = inspect.signature(cls.__init__)
    args = []
    for p in params:
        hint = str(p.annotation)
        args.append({} if "dict" in hint else 1.0 if "float" in hint else f"<{p.name}>")
    return cls(*args)


CLASSES = _exception_classes()


def test_the_package_defines_exceptions_to_check():
    names = {c.__name__ for c in CLASSES}
    assert {"GateFailed", "UndecodableText", "Refused", "ManifestError", "RunLocked"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_round_trips_as_itself(cls):
    exc = _instance(cls)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and str(back) == str(exc)
    assert {k: repr(v) for k, v in vars(back).items()} == {k: repr(v) for k, v in vars(exc).items()}

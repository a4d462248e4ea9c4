"""Test families that run only when asked for (integration, neural, golden): one skip rule for all of them."""

from __future__ import annotations

import os

import pytest


def skip_unless_asked(items, marker: str, env: str, target: str, values: tuple[str, ...] = ("1",)) -> None:
    """Skip every ``marker`` test unless ``$env`` is one of ``values`` (which ``make target`` sets): such a test
    run by accident would hold 2 cores for minutes."""
    if os.environ.get(env) in values:
        return
    skip = pytest.mark.skip(reason=f"{marker} run: use `make {target}` (sets {env}={values[0]})")
    for item in items:
        if marker in item.keywords:
            item.add_marker(skip)

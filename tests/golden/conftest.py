"""The golden-manifest run is opt-in (``make test-golden``): five demo years take minutes."""

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("BIOMASS_GOLDEN"):
        return
    skip = pytest.mark.skip(reason="golden manifests: use `make test-golden` (sets BIOMASS_GOLDEN=1)")
    for item in items:
        if "golden" in item.keywords:
            item.add_marker(skip)

"""The golden-manifest run is opt-in (``make test-golden``): five demo years take minutes."""

from tests.opt_in import skip_unless_asked


def pytest_collection_modifyitems(config, items):
    skip_unless_asked(items, "golden", "BIOMASS_GOLDEN", "test-golden", values=("1", "write"))

"""Language-model fixtures: the shared real-text fixtures."""

from tests.text_fixtures import human_docs  # noqa: F401 (fixtures)

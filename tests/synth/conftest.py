"""Synth fixtures: the shared real-text fixtures."""

from tests.text_fixtures import human_docs, train_table, keypair, prov  # noqa: F401 (fixtures)

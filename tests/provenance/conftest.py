"""Provenance fixtures: the shared real-text fixtures plus the project's own synthetic text."""

import pyarrow as pa
import pytest

from tests.text_fixtures import human_docs, train_table, keypair, prov  # noqa: F401 (fixtures)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory, train_table, prov) -> pa.Table:
    """The project's own synthetic text: 30 documents from the embedded generator, trained on the fixture."""
    import pyarrow.parquet as pq

    from biomass.config import SynthesizeConfig
    from biomass.synth import synthesize_stage

    path = tmp_path_factory.mktemp("syn") / "syn.parquet"
    synthesize_stage([train_table], n=30, seed=3, year=2025, parent=2024, config=SynthesizeConfig(),
                     provenance=prov, out_path=str(path))
    return pq.read_table(path)


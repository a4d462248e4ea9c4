"""Where the CLI finds the provenance config: ``BiomassConfig.provenance`` once the lead wires it in."""

from __future__ import annotations

from biomass.config import load_config
from biomass.provenance.config import ProvenanceConfig


def provenance_from(config_path: str | None, key_file: str | None = None,
                    trusted: list[str] | None = None, archive: str | None = None) -> ProvenanceConfig:
    cfg = load_config(config_path)
    prov = getattr(cfg, "provenance", None) or ProvenanceConfig()
    update: dict = {}
    if key_file:
        update["signing_key_file"] = key_file
    if trusted:
        update["trusted_public_keys"] = list(prov.trusted_public_keys) + list(trusted)
    if archive:
        update["fingerprint_archive"] = archive
    return prov.model_copy(update=update) if update else prov

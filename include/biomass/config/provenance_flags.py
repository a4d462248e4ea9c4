"""The provenance settings a command runs with: the config file's ``provenance`` section, then the command's flags.

It reads the whole config file, so it sits with the YAML model above the kernels, not inside ``biomass.provenance``
(where it used to make provenance reach up to the config that itself reads the provenance section).
"""

from __future__ import annotations

from biomass.config.biomass_yaml import load_config
from biomass.config.provenance import ProvenanceConfig


def provenance_from(config_path: str | None, key_file: str | None = None,
                    trusted: list[str] | None = None, archive: str | None = None) -> ProvenanceConfig:
    """``--key-file`` replaces the signing key file, ``--trust`` adds to the trusted keys, ``--archive`` replaces
    the fingerprint archive; flags left out keep the file's values."""
    prov = load_config(config_path).provenance
    update: dict = {}
    if key_file:
        update["signing_key_file"] = key_file
    if trusted:
        update["trusted_public_keys"] = list(prov.trusted_public_keys) + list(trusted)
    if archive:
        update["fingerprint_archive"] = archive
    return prov.model_copy(update=update) if update else prov

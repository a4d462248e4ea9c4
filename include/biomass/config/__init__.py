"""Every typed config model, one module per concept, all on ``biomass.strict.StrictModel``:

- ``biomass_yaml``: the typed biomass.yaml (``BiomassConfig``, ``load_config``) and its sections without a
  home of their own; its public names are re-exported here (``from biomass.config import load_config``);
- ``dedup``, ``metrics``, ``provenance``: the sections the kernels read, importing nothing but foundations, so a
  kernel can read its settings without loading the whole config;
- ``experiment``: the policy experiment's settings; ``provenance_flags``: a command's provenance settings (the
  config file's section, then its flags).

The re-exports are imported on first use (PEP 562): importing ``biomass.config.metrics`` from a kernel must not
load the YAML model, which reaches up to the filter registry.
"""

_MAIN = frozenset({
    "BUNDLED_CONFIG", "CONFIG_ERRORS", "REPO_ROOT", "AiOptOutConfig", "BiomassConfig", "FilterSpec", "FiltersConfig",
    "GateConfig", "LicenseConfig", "PIIConfig", "Policy", "RunLockConfig", "ReviewConfig", "Reviewer",
    "ScrapeConfig", "SynthesizeConfig", "expand_inputs", "load_config",
})


def __getattr__(name: str):
    if name not in _MAIN:
        raise AttributeError(f"module 'biomass.config' has no attribute {name!r}")
    from biomass.config import biomass_yaml

    value = getattr(biomass_yaml, name)
    globals()[name] = value
    return value


__all__ = sorted(_MAIN)

"""The one base of every typed config model: an unknown key is an error (a typo in biomass.yaml must not be
ignored silently) and a loaded config is frozen (no step can change it half-way through a run)."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

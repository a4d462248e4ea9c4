"""Settings of a policy experiment (``biomass.experiment``): how many generations, which policies and seeds, how
the pool is split, and the generator and metric settings every arm shares."""

from __future__ import annotations

from pydantic import model_validator

from biomass.config.biomass_yaml import SynthesizeConfig
from biomass.config.metrics import MetricsConfig
from biomass.strict import StrictModel

POLICIES = ("replace", "accumulate", "human-floor", "filtered")
# Opt-in: `filtered` with the tagger's statistical detector alone (no watermark key, no fingerprint archive),
# the position of a crawler meeting another generator's text.
EXTRA_POLICIES = ("filtered-detector",)


class ExperimentConfig(StrictModel):
    generations: int = 5
    policies: tuple[str, ...] = POLICIES
    seed: int = 7
    seeds: tuple[int, ...] | None = None  # None: (seed,)
    human_floor: float = 0.3
    share_sweep: tuple[float, ...] = ()  # extra human-floor shares, each run as its own arm
    gen0_fraction: float = 0.2  # of the pool; B = the size of generation 0
    reference_fraction: float = 0.3  # of the pool: the frozen reference; the rest is the fresh human pool
    budget: int | None = None  # documents per generation; None: all of generation 0
    vendi_docs: int = 200  # documents per generation in the Vendi sample
    embedding_vendi: bool = False  # also the embedding Vendi of the same sample (extra `embeddings`; ~6 docs/s)
    perplexity_docs: int = 300  # reference documents scored for head/tail perplexity
    synthesize: SynthesizeConfig = SynthesizeConfig()
    metrics: MetricsConfig = MetricsConfig()

    @model_validator(mode="after")
    def _valid(self) -> "ExperimentConfig":
        unknown = set(self.policies) - set(POLICIES + EXTRA_POLICIES)
        if unknown:
            raise ValueError(f"unknown policies {sorted(unknown)}; choose from {', '.join(POLICIES + EXTRA_POLICIES)}")
        if self.generations < 1:
            raise ValueError("generations must be >= 1")
        for share in (self.human_floor, *self.share_sweep):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"a human share must be in [0, 1], got {share}")
        if not (0 < self.gen0_fraction and 0 < self.reference_fraction
                and self.gen0_fraction + self.reference_fraction < 1):
            raise ValueError("gen0_fraction and reference_fraction must be > 0 and leave a fresh pool")
        return self

    @property
    def seed_list(self) -> tuple[int, ...]:
        return tuple(self.seeds) if self.seeds else (self.seed,)

    def arms(self) -> list[tuple[str, float]]:
        """(policy, human share) of every run: the policies at ``human_floor``, then the sweep's extra shares."""
        arms = [(p, self.human_floor if p.startswith(("human-floor", "filtered")) else 0.0) for p in self.policies]
        if "human-floor" in self.policies:
            arms += [("human-floor", s) for s in self.share_sweep if s != self.human_floor]
        return arms

"""Stage 3: the embedded generator (a Kneser-Ney word n-gram model) and the synthesize stage."""

from biomass.synth.ngram import NgramModel
from biomass.synth.stage import synthesize_stage

__all__ = ["NgramModel", "synthesize_stage"]

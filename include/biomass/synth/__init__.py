"""Stage 3: the embedded generator (a Kneser-Ney word n-gram model) and the synthesize stage.

Both names are imported lazily: the tokenisers and the language model below this package are shared with
provenance and metrics, and importing them must not load the stage (which builds on provenance).
"""

__all__ = ["NgramModel", "synthesize_stage"]


def __getattr__(name: str):
    if name == "NgramModel":
        from biomass.synth.ngram import NgramModel
        return NgramModel
    if name == "synthesize_stage":
        from biomass.synth.stage import synthesize_stage
        return synthesize_stage
    raise AttributeError(name)

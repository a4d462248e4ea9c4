"""Stage 3: the synthesize stage, its backends (the embedded n-gram model of ``biomass.lm``, or an OpenAI-style
server) and the batched sampler.

``synthesize_stage`` is imported lazily, so that importing a module of this package does not load the stage
(which builds on provenance).
"""

__all__ = ["synthesize_stage"]


def __getattr__(name: str):
    if name == "synthesize_stage":
        from biomass.synth.stage import synthesize_stage
        return synthesize_stage
    raise AttributeError(name)

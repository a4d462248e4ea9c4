"""The word n-gram language model and the tokenisers it shares with provenance and the collapse metrics.

Why a package of its own: the generator (``biomass.synth``) trains and samples this model, the watermark and the
detectors (``biomass.provenance``) score text with it, and the metrics score held-out text with the model that
wrote a generation; none of them may pull in another's stage. ``tokenize`` holds every tokeniser they share;
``counting``, ``keyindex``, ``ngram``, ``training`` and ``model_store`` are the model. Nothing is re-exported
here, so importing one module loads only what it needs.
"""

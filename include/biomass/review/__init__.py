"""Expert review before a year is published: a person reads a sample of the staged generation and decides.

``sample`` draws the review sample from staging (bounded memory, deterministic), ``body`` renders what the
reviewer reads (Markdown: size, mix, collapse metrics, gate verdicts, the sample with links), ``decision``
records the verdict (approve, approve excluding doc_ids, reject) and applies it before publish. Plain Python:
the DAG's human-in-the-loop operator and ``biomass review`` both call it.
"""

"""What the observatory shows, read from published manifests only (staging is never shown as a generation)."""

from __future__ import annotations

from typing import Any

from biomass.manifest import Manifest, summarize
from biomass.storage import GenerationStore

# Metric curves drawn on the page, in order; any other numeric metric is still served as JSON.
CHARTED_METRICS = ("tail_coverage", "tail_coverage_ngram", "distinct_2", "unigram_entropy", "js_divergence",
                   "js_divergence_prev", "zipf_exponent", "perplexity_head", "perplexity_tail")


def generation_summary(manifest: Manifest) -> dict[str, Any]:
    """The page's view of one year: the one manifest summary (``biomass.manifest``), as JSON."""
    summary = summarize(manifest).as_dict()
    summary.pop("review")
    summary.pop("opted_out")
    return summary


def observatory_payload(store: GenerationStore) -> dict[str, Any]:
    generations = [generation_summary(m) for _, m in store.iter_published()]
    return {"data_root": str(store.data_root), "charted_metrics": list(CHARTED_METRICS),
            "generations": generations}


def pending_reviews(store: GenerationStore) -> list[dict[str, Any]]:
    """Staged years whose review sample is drawn and that nobody has decided yet (review mode ``required``),
    oldest first: what waits under Browse > Required Actions."""
    out = []
    staging = store.data_root / "staging"
    for folder in sorted(staging.iterdir()) if staging.is_dir() else []:
        review = folder / "review"
        if folder.name.isdigit() and (review / "sample.parquet").exists() and not (review / "decision.json").exists():
            out.append({"year": int(folder.name), "sample": str(review / "sample.parquet")})
    return out

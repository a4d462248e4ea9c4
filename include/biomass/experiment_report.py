"""The policy experiment's results: mean and 95% t-interval over seeds, the extinction fit, tables and plots.

Interval: mean +/- t_{0.975, n-1} * sd / sqrt(n) over the n seeds (sd with n - 1 degrees of freedom); with one
seed there is no interval (lo = hi = mean). Extinction: for each word of generation 0's training text, the first
generation whose output lacks it; words still present after the last generation are censored. The fit is the
least-squares line of extinction generation on ln(original count) over the words that went extinct, pooled over
seeds, with its R^2, plus the same slope per seed (for an interval). Every file goes through
``biomass.storage``'s atomic writers.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

TABLE_METRICS = ("tail_coverage", "tail_coverage_gen0", "tail_coverage_ngram", "vendi_bigram", "distinct_2",
                 "js_divergence", "perplexity_head", "perplexity_tail", "synthetic_in_train")
PLOTTED = ("tail_coverage", "tail_coverage_gen0", "tail_coverage_ngram", "vendi_bigram", "distinct_2",
           "unigram_entropy", "js_divergence", "perplexity_head", "perplexity_tail")
OPTIONAL = ("vendi_embedding",)  # present only when the run asked for it (``embedding_vendi``)


def t_interval(values: Sequence[float]) -> tuple[float, float, float, int]:
    """(mean, lo, hi, n) of the finite values: the two-sided 95% Student t-interval for the mean."""
    from scipy.stats import t as student_t

    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return (math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if x.size == 1:
        return (mean, mean, mean, 1)
    half = float(student_t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return (mean, mean - half, mean + half, int(x.size))


def summarize(rows: Sequence[dict[str, Any]], metrics: Sequence[str] = PLOTTED + OPTIONAL + ("synthetic_in_train",)):
    """One row per (policy, share, generation, metric): mean, lo, hi, n over seeds."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    out = []
    for (policy, share, gen), group in frame.groupby(["policy", "share", "generation"], sort=False):
        for metric in metrics:
            if metric in group.columns:
                mean, lo, hi, n = t_interval(group[metric].astype(float).tolist())
                out.append({"policy": policy, "share": share, "generation": gen, "metric": metric,
                            "mean": mean, "lo": lo, "hi": hi, "seeds": n})
    return pd.DataFrame(out)


def _line(x: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    if x.size < 3 or np.ptp(x) == 0:
        return {"slope": None, "intercept": None, "r2": None}
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {"slope": float(slope), "intercept": float(intercept),
            "r2": 1.0 - float((resid ** 2).sum()) / ss_tot if ss_tot else None}


def extinction_fit(records: Sequence[dict[str, Any]], policy: str = "replace") -> dict[str, Any]:
    """Extinction generation against ln(generation-0 count) for ``policy``'s runs (see the module docstring)."""
    runs = [r for r in records if r["policy"] == policy]
    if not runs:
        return {"policy": policy, "runs": 0}
    xs, ys, per_seed, words, extinct = [], [], [], 0, 0
    for run in runs:
        counts, gens = np.asarray(run["counts"], dtype=np.float64), np.asarray(run["extinct"], dtype=np.float64)
        died = gens > 0
        words += counts.size
        extinct += int(died.sum())
        xs.append(np.log(counts[died]))
        ys.append(gens[died])
        per_seed.append(_line(np.log(counts[died]), gens[died])["slope"])
    x, y = np.concatenate(xs), np.concatenate(ys)
    fit = _line(x, y)
    mean, lo, hi, n = t_interval([s for s in per_seed if s is not None])
    # mean extinction generation by original count (extinct words), and the share still alive at the end
    by_count = []
    all_counts = np.concatenate([np.asarray(r["counts"]) for r in runs])
    all_gens = np.concatenate([np.asarray(r["extinct"]) for r in runs])
    for c in sorted(set(all_counts.tolist())):
        if c > 64:
            break
        sel = all_counts == c
        died = all_gens[sel] > 0
        by_count.append({"count": int(c), "words": int(sel.sum()), "extinct": int(died.sum()),
                         "mean_generation": float(all_gens[sel][died].mean()) if died.any() else None})
    return {"policy": policy, "runs": len(runs), "generations": runs[0]["generations"], "words": words,
            "extinct": extinct, **fit, "slope_seed_mean": mean, "slope_lo": lo, "slope_hi": hi,
            "slope_seeds": n, "by_count": by_count}


def _fmt(mean: float, lo: float, hi: float, digits: int = 3) -> str:
    if math.isnan(mean):
        return "–"
    if lo == hi:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {(hi - lo) / 2:.{digits}f}"


def markdown(summary, fit: dict[str, Any], seeds: int, vendi_docs: int = 200,
             rows: Sequence[dict[str, Any]] | None = None) -> str:
    """The README's tables: tail coverage per policy and generation, the last generation's other metrics, the
    share sweep and the extinction fit; with the per-seed ``rows``, also the verdict on each paper
    (:func:`verdicts`)."""
    main = summary[summary["policy"].isin(["replace", "accumulate", "filtered", "filtered-detector"])
                   | (summary["policy"].str.startswith("human-floor") & (summary["share"] == _floor(summary)))]
    arms = list(dict.fromkeys(main["policy"]))
    gens = sorted(summary["generation"].unique())
    last = gens[-1]

    def cell(policy, gen, metric, digits=3):
        sel = summary[(summary["policy"] == policy) & (summary["generation"] == gen) & (summary["metric"] == metric)]
        if sel.empty:
            return "–"
        r = sel.iloc[0]
        return _fmt(r["mean"], r["lo"], r["hi"], digits)

    out = [f"Tail coverage of the frozen reference's rare words (mean ± 95% t-interval half-width over {seeds} "
           "seeds), by generation:", "",
           "| policy | " + " | ".join(f"gen {g}" for g in gens) + " |",
           "|---|" + "---|" * len(gens)]
    out += [f"| {a} | " + " | ".join(cell(a, g, "tail_coverage") for g in gens) + " |" for a in arms]
    cols = [("tail_coverage_gen0", "tail cov. (gen-0 rare words)", 3), ("tail_coverage_ngram", "rare bigrams", 3),
            ("vendi_bigram", f"Vendi ({vendi_docs} docs)", 1)]
    if (summary["metric"] == "vendi_embedding").any():
        cols.append(("vendi_embedding", f"embedding Vendi ({vendi_docs} docs)", 1))
    cols += [("distinct_2", "distinct-2", 3), ("js_divergence", "JS vs reference", 3),
             ("perplexity_head", "head ppl", 0), ("perplexity_tail", "tail ppl", 0),
             ("synthetic_in_train", "synthetic share of training", 2)]
    out += ["", f"Generation {last}, other metrics:", "",
            "| policy | " + " | ".join(name for _, name, _ in cols) + " |", "|---|" + "---|" * len(cols)]
    out += [f"| {a} | " + " | ".join(cell(a, last, m, d) for m, _, d in cols) + " |" for a in arms]
    sweep = summary[summary["policy"].str.startswith("human-floor") & (summary["metric"] == "tail_coverage")
                    & (summary["generation"] == last)].sort_values("share")
    if len(sweep) > 1:
        out += ["", f"Human-floor share sweep, generation {last}:", "", "| fresh human share | tail coverage |",
                "|---|---|"]
        out += [f"| {r['share']:g} | {_fmt(r['mean'], r['lo'], r['hi'])} |" for _, r in sweep.iterrows()]
    if fit.get("runs"):
        head = (f"Extinction under `{fit['policy']}` ({fit['runs']} runs, {fit['words']} generation-0 words, "
                f"{fit['extinct']} extinct within {fit['generations']} generations): ")
        if fit["slope"] is None or fit["r2"] is None:
            out += ["", head + "too few extinct words, or all at one count, to fit a line."]
        else:
            out += ["", head + f"extinction generation = {fit['slope']:.3f} · ln(count) + {fit['intercept']:.3f}, "
                    f"R² = {fit['r2']:.3f} (per-seed slope "
                    f"{_fmt(fit['slope_seed_mean'], fit['slope_lo'], fit['slope_hi'])})."]
    if rows:
        out += ["", *verdicts(summary, fit, rows)]
    return "\n".join(out) + "\n"


def ratio_table(summary) -> str:
    """Mean tail coverage of every arm divided by generation 0's (fresh human text of the same size against the
    same reference), per generation: the scale the collapse gate's levels are set on (docs/metrics.md)."""
    cov = summary[summary["metric"] == "tail_coverage"]
    gens = sorted(g for g in cov["generation"].unique() if g > 0)
    out = ["| policy | " + " | ".join(f"gen {g}" for g in gens) + " |", "|---|" + "---|" * len(gens)]
    for (policy, share), group in cov.groupby(["policy", "share"], sort=False):
        base = group[group["generation"] == 0]["mean"]
        if base.empty or not base.iloc[0]:
            continue
        by_gen = dict(zip(group["generation"], group["mean"]))
        out.append(f"| {policy} | " + " | ".join(f"{by_gen[g] / base.iloc[0]:.2f}" for g in gens) + " |")
    return "\n".join(out) + "\n"

def _cell(summary, policy: str, gen: int, metric: str = "tail_coverage") -> tuple[float, float, float] | None:
    sel = summary[(summary["policy"] == policy) & (summary["generation"] == gen) & (summary["metric"] == metric)]
    return None if sel.empty else (float(sel["mean"].iloc[0]), float(sel["lo"].iloc[0]), float(sel["hi"].iloc[0]))


def _ci(c: tuple[float, float, float] | None, digits: int = 3) -> str:
    return "–" if c is None else _fmt(*c, digits=digits)


def _step_interval(frame, policy: str, a: int, b: int, metric: str = "tail_coverage") -> tuple[float, float, float]:
    """Mean and 95% interval over seeds of ``metric`` at generation b minus at generation a (paired by seed)."""
    sel = frame[frame["policy"] == policy].pivot_table(index="seed", columns="generation", values=metric)
    return t_interval((sel[b] - sel[a]).tolist())[:3]


def verdicts(summary, fit: dict[str, Any], rows: Sequence[dict[str, Any]]) -> list[str]:
    """One bullet per paper: the rule checked, the figures (means with 95% intervals over seeds) and whether the
    run meets it, so the README's claims are the run's own and change when the run does."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    gens = sorted(int(g) for g in frame["generation"].unique())
    last, mid = gens[-1], gens[len(gens) // 2]
    policies = set(frame["policy"])
    out = [f"**Where biomass reproduces each paper, and where it does not** (generated from this run; tail "
           f"coverage of the frozen reference's rare words, generation {last}, mean ± 95% interval over seeds):", ""]

    if "replace" in policies:
        rep = [_cell(summary, "replace", g) for g in gens]
        means = [c[0] for c in rep]
        per_seed = frame[frame["policy"] == "replace"].pivot_table(index="seed", columns="generation",
                                                                    values="tail_coverage")
        seeds_ok = int(sum(all(b < a for a, b in zip(r, r[1:])) for r in per_seed[gens].to_numpy().tolist()))
        separated = sum(b[2] < a[1] for a, b in zip(rep, rep[1:]))
        ok = all(b < a for a, b in zip(means, means[1:])) and seeds_ok == len(per_seed)
        out.append(f"- **Shumailov et al. 2024, `replace` falls monotonically: {'reproduced' if ok else 'NOT reproduced'}.** "
                   f"Mean tail coverage falls at {sum(b < a for a, b in zip(means, means[1:]))} of {len(gens) - 1} "
                   f"generation steps ({_ci(rep[0])} at generation 0 → {_ci(rep[-1])} at {last}), in {seeds_ok} of "
                   f"{len(per_seed)} seeds at every step; {separated} of {len(gens) - 1} steps have the new "
                   "interval wholly below the previous one.")

    if {"replace", "accumulate"} <= policies:
        acc_loss = _step_interval(frame, "accumulate", mid, last)
        rep_loss = _step_interval(frame, "replace", mid, last)
        step = _step_interval(frame, "accumulate", last - 1, last)
        slowed = -acc_loss[0] < 0.5 * -rep_loss[0]  # loses less than half of what replace loses (the test's rule)
        if slowed and step[2] >= 0:
            verdict = "reproduced"
        elif slowed:
            verdict = "reproduced in part (slowed, not stopped)"
        else:
            verdict = "NOT reproduced"
        out.append(f"- **Gerstgrasser et al. 2024, `accumulate` levels off: {verdict}.** From generation {mid} to "
                   f"{last} accumulate changes by {_fmt(*acc_loss)} against replace's {_fmt(*rep_loss)} (slowed = "
                   f"less than half of it); its last step ({last - 1} → {last}) is {_fmt(*step)} (levelled off = "
                   "slowed and that interval reaches 0). It ends "
                   f"at {_ci(_cell(summary, 'accumulate', last))}, replace at {_ci(_cell(summary, 'replace', last))}.")

    floors = sorted(float(s) for s in frame[frame["policy"].str.startswith("human-floor")]["share"].unique())
    if floors and {"replace", "accumulate"} <= policies:
        rep, acc = _cell(summary, "replace", last), _cell(summary, "accumulate", last)
        parts, between, gaps = [], 0, []
        for share in floors:
            hf = _cell(summary, f"human-floor {share:g}", last)
            if hf[1] > rep[2] and hf[2] < acc[1]:
                where, between = "strictly between (intervals disjoint)", between + 1
            elif rep[0] < hf[0] < acc[0]:
                where, between = "between by its mean (intervals overlap)", between + 1
            elif hf[0] >= acc[0]:
                where = "above accumulate" + (" (intervals disjoint)" if hf[1] > acc[2] else " (intervals overlap)")
            else:
                where = "at or below replace"
            gaps.append(abs(acc[0] - hf[0]))
            parts.append(f"s = {share:g}: {_ci(hf)}, {where}")
        hf_means = [_cell(summary, f"human-floor {s:g}", last)[0] for s in floors]
        rising = all(b > a for a, b in zip(hf_means, hf_means[1:]))
        below = [(s, g) for s, g, m in zip(floors, gaps, hf_means) if m < acc[0]]
        closing = all(b[1] < a[1] for a, b in zip(below, below[1:]))
        verdict = ("reproduced" if rising and between == len(floors) and closing else
                   "reproduced in direction (every share helps, more helps more)" if rising and between
                   else "NOT reproduced")
        top = floors[-1]
        hold = _step_interval(frame, f"human-floor {top:g}", min(2, last), last)
        out.append(f"- **Dohmatob et al. 2024 / Kazdan et al. 2024, fresh human data between replace and accumulate, "
                   f"closer to accumulate as the share s grows: {verdict}.** Coverage "
                   f"{'rises' if rising else 'does not rise'} with s at every step of the sweep; "
                   f"{between} of {len(floors)} shares end between replace ({_ci(rep)}) and accumulate ({_ci(acc)}); "
                   + "; ".join(parts) + ". "
                   + (f"Below accumulate, the gap {'shrinks' if closing else 'does not shrink'} as s grows "
                      f"({', '.join(f'{g:.3f}' for _, g in below)} for s = {', '.join(f'{s:g}' for s, _ in below)}). "
                      if len(below) > 1 else "")
                   + f"At s = {top:g} coverage changes by {_fmt(*hold)} from generation {min(2, last)} to {last} "
                   f"({'level within the interval' if hold[2] >= 0 else 'still loses ground: the tail is not restored'}).")

    if fit.get("runs") and fit.get("slope") is not None and fit.get("r2") is not None:
        ok = fit["slope_lo"] is not None and fit["slope_lo"] > 0
        out.append(f"- **Suresh et al. 2024, the time until a word disappears grows with its generation-0 count: "
                   f"{'reproduced in direction' if ok else 'NOT reproduced'}.** Under `{fit['policy']}`, "
                   f"{fit['extinct']} of {fit['words']} generation-0 words ({fit['runs']} runs) disappear within "
                   f"{fit['generations']} generations; extinction generation = {fit['slope']:.3f} · ln(count) + "
                   f"{fit['intercept']:.3f}, per-seed slope {_fmt(fit['slope_seed_mean'], fit['slope_lo'], fit['slope_hi'])}, "
                   f"R² = {fit['r2']:.3f} (ln(count) explains that share of the spread; words still alive at the "
                   "end are censored, so the growth law itself is not tested).")

    for policy in ("filtered", "filtered-detector"):
        if policy not in policies:
            continue
        sub = frame[(frame["policy"] == policy) & (frame["generation"] > 1)]
        if sub.empty or "filter_recall" not in sub:  # one generation: it never crawled
            continue
        recall = t_interval(sub.groupby("seed")["filter_recall"].mean().tolist())[:3]
        slipped = _cell(summary, policy, last, "synthetic_in_train")
        share = float(sub["share"].iloc[0])
        twin = f"human-floor {share:g}"
        cov = _cell(summary, policy, last)
        compare = (f", human-floor {share:g} {_ci(_cell(summary, twin, last))}" if twin in policies else "")
        dropped = float(sub["filter_human_dropped"].mean())
        out.append(f"- **`{policy}`, what slipped through the tagger:** recall {_fmt(*recall)} of the synthetic "
                   f"crawl (mean over generations 2–{last}), {dropped:.3%} of fresh human documents dropped; "
                   f"synthetic share of generation {last}'s training set {_ci(slipped, 2)}; tail coverage "
                   f"{_ci(cov)} (replace {_ci(_cell(summary, 'replace', last))}{compare}).")
    reused = int(frame["fresh_reused"].max()) if "fresh_reused" in frame else 0
    out.append(f"- Fresh human documents handed out twice within one run: {reused}"
               + (" (the fresh pool was large enough for every arm)." if not reused else
                  " (the fresh pool ran out and started over; counted in `fresh_reused`)."))
    return out


def _floor(summary) -> float:
    """The share of the main human-floor arm: the one `filtered` shares, else the smallest in the sweep."""
    filt = summary[summary["policy"] == "filtered"]
    shares = sorted(summary[summary["policy"].str.startswith("human-floor")]["share"].unique())
    if not filt.empty:
        return float(filt["share"].iloc[0])
    return float(shares[0]) if shares else math.nan


def _png(fig, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def plots(summary, fit: dict[str, Any]) -> dict[str, bytes]:
    """{file name: PNG bytes}: the metric curves with 95% bands, the share sweep, the extinction plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor = _floor(summary)
    main = summary[~summary["policy"].str.startswith("human-floor") | (summary["share"] == floor)]
    metrics = [m for m in PLOTTED + OPTIONAL
               if m in set(main["metric"]) and main[main["metric"] == m]["mean"].notna().any()]
    files = {}
    cols = 3
    fig, axes = plt.subplots(-(-len(metrics) // cols), cols, figsize=(4.2 * cols, 3.0 * -(-len(metrics) // cols)),
                             squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        for policy, group in main[main["metric"] == metric].groupby("policy", sort=False):
            line, = ax.plot(group["generation"], group["mean"], marker="o", ms=3, label=policy)
            ax.fill_between(group["generation"], group["lo"], group["hi"], color=line.get_color(), alpha=0.2)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("policy experiment: the generator's own output (mean and 95% interval over seeds)")
    fig.tight_layout()
    files["experiment.png"] = _png(fig, dpi=72)  # nine panels: kept small enough to commit
    plt.close(fig)

    last = summary["generation"].max()
    sweep = summary[summary["policy"].str.startswith("human-floor") & (summary["metric"] == "tail_coverage")
                    & (summary["generation"] == last)].sort_values("share")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.errorbar(sweep["share"], sweep["mean"], yerr=[sweep["mean"] - sweep["lo"], sweep["hi"] - sweep["mean"]],
                marker="o", capsize=3, label="human-floor")
    for policy, style in (("replace", ":"), ("accumulate", "--")):
        sel = summary[(summary["policy"] == policy) & (summary["metric"] == "tail_coverage")
                      & (summary["generation"] == last)]
        if not sel.empty:
            r = sel.iloc[0]
            ax.axhline(r["mean"], ls=style, color="gray", label=policy)
            ax.axhspan(r["lo"], r["hi"], color="gray", alpha=0.15)
    ax.set_xlabel("fresh human share of each generation's training budget")
    ax.set_ylabel(f"tail coverage, generation {last}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    files["experiment-share.png"] = _png(fig)
    plt.close(fig)

    if fit.get("by_count"):
        pts = [b for b in fit["by_count"] if b["mean_generation"] is not None]
        fig, ax1 = plt.subplots(figsize=(5.5, 3.6))
        ax1.plot([b["count"] for b in pts], [b["mean_generation"] for b in pts], "o", ms=4,
                 label="mean extinction generation (extinct words)")
        if fit["slope"] is not None and fit["r2"] is not None:
            xs = np.array([pts[0]["count"], pts[-1]["count"]], dtype=float)
            ax1.plot(xs, fit["slope"] * np.log(xs) + fit["intercept"], "-",
                     label=f"fit: {fit['slope']:.2f} ln(count) + {fit['intercept']:.2f}, R² {fit['r2']:.2f}")
        ax2 = ax1.twinx()
        ax2.plot([b["count"] for b in fit["by_count"]], [1 - b["extinct"] / b["words"] for b in fit["by_count"]],
                 "s", ms=3, color="gray", alpha=0.6, label="share still alive at the end")
        ax2.set_ylabel("share still alive", color="gray")
        ax1.set_xscale("log")
        ax1.set_xlabel("count in generation 0's training text")
        ax1.set_ylabel("generation it disappears")
        ax1.set_title(f"extinction under {fit['policy']} ({fit['runs']} runs)", fontsize=10)
        ax1.grid(alpha=0.3)
        h1, l1 = ax1.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax1.legend(h1 + h2, l1 + l2, fontsize=7, loc="lower right")
        fig.tight_layout()
        files["experiment-extinction.png"] = _png(fig)
        plt.close(fig)
    return files


def write_results(rows: list[dict[str, Any]], records: list[dict[str, Any]], out: Path, cfg: Any) -> None:
    """experiment.csv (every run), experiment-summary.csv, experiment.json, experiment.md and the PNGs."""
    import pandas as pd

    from biomass.schema import canonical_json
    from biomass.storage import write_bytes_atomic

    frame = pd.DataFrame(rows)
    summary = summarize(rows)
    fit = extinction_fit(records, "replace")
    fits = {p: extinction_fit(records, p) for p in dict.fromkeys(r["policy"] for r in records)}
    seeds = int(frame["seed"].nunique())
    write_bytes_atomic(out / "experiment.csv", frame.to_csv(index=False, float_format="%.6g").encode())
    write_bytes_atomic(out / "experiment-summary.csv", summary.to_csv(index=False, float_format="%.6g").encode())
    meta = {"seeds": sorted(int(s) for s in frame["seed"].unique()), "generations": int(frame["generation"].max()),
            "config": {k: v for k, v in vars(cfg).items() if k not in ("synthesize", "metrics")}}
    write_bytes_atomic(out / "experiment.json",
                       (canonical_json({"meta": meta, "rows": rows, "extinction_fits": fits}) + "\n").encode())
    write_bytes_atomic(out / "experiment.md",
                       markdown(summary, fit, seeds, getattr(cfg, "vendi_docs", 200), rows).encode())
    for name, data in plots(summary, fit).items():
        write_bytes_atomic(out / name, data)

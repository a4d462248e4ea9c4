"""The collapse gate's decision: ok, warn or fail, with a readable reason for every bound crossed."""

from __future__ import annotations

from typing import Any, Mapping

from biomass.config.metrics import MetricsConfig

_RANK = {"ok": 0, "warn": 1, "fail": 2}


def collapse_verdict(metrics: Mapping[str, Any], config: MetricsConfig) -> dict[str, Any]:
    """Check ``metrics`` against ``config.bounds``.

    A bound whose metric is None (not computable, e.g. no previous generation) is listed as skipped and does
    not change the status; a bound naming a metric that is not in ``metrics`` at all is a configuration error.
    Crossing the warning level gives "warn", crossing the failing level gives "fail"; the worst one wins.
    """
    status = "ok"
    reasons: list[str] = []
    checks: list[dict[str, Any]] = []
    for bound in config.bounds:
        if bound.metric not in metrics:
            raise KeyError(f"collapse bound names unknown metric {bound.metric!r}; known: {sorted(metrics)}")
        value = metrics[bound.metric]
        check = {"metric": bound.metric, "direction": bound.direction, "warn": bound.warn, "fail": bound.fail,
                 "value": value}
        if value is None:
            check["status"] = "skipped"
        else:
            value = float(value)
            level = bound.level(value)
            word = "below" if bound.direction == "min" else "above"
            limit = bound.fail if level == "fail" else bound.warn
            check["status"] = level
            if level != "ok":
                reasons.append(f"{bound.metric} = {value:.4f} is {word} the {level} level {limit:g}")
            if _RANK[level] > _RANK[status]:
                status = level
        checks.append(check)
    return {"status": status, "reasons": reasons, "checks": checks}

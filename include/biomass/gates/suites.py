"""The expectation suites, one per stage, as reviewed code.

Each suite is a list of ``Check``s over one of three batches:
- ``schema``: the stage output's column names, in order (an empty frame: the schema, no data);
- ``rows``: the stage's output records, projected: every column a check reads except ``text``, plus figures the
  gate derives from the text batch by batch (``text_chars``, null where the text is null) and, for synthetic rows,
  ``signature_valid``. Document text never reaches pandas (see ``biomass.gates.rows``);
- ``summary``: one row of stage-level figures (quarantined fraction, shares, change against the parent),
  because great-expectations validates tables and these figures are properties of the whole table.
Thresholds come from ``GateConfig`` so a run can override any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from biomass.config import GateConfig
from biomass.schema import COLUMNS, ORIGINS, SOURCES

# 2: text checks read the derived text_chars (not text); the schema check has a batch of its own.
SUITE_VERSION = 2


@dataclass(frozen=True)
class Check:
    """One expectation: the GX class name, its kwargs, and which batch it reads."""

    expectation: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    batch: Literal["schema", "rows", "summary"] = "rows"
    why: str = ""


def _record_checks(g: GateConfig, source: str | None) -> list[Check]:
    checks = [
        Check("ExpectTableColumnsToMatchOrderedList", {"column_list": list(COLUMNS)}, batch="schema",
              why="record schema"),
        Check("ExpectColumnValuesToNotBeNull", {"column": "doc_id"}, why="every record has an id"),
        Check("ExpectColumnValuesToNotBeNull", {"column": "text_chars"}, why="every record has text"),
        Check("ExpectColumnValuesToBeUnique", {"column": "doc_id"}, why="ids identify one record"),
        Check("ExpectColumnValuesToBeBetween",
              {"column": "text_chars", "min_value": g.min_chars, "max_value": g.max_chars}, why="text length bounds"),
        Check("ExpectColumnValuesToBeInSet", {"column": "origin", "value_set": list(ORIGINS)}, why="known origin"),
        Check("ExpectColumnValuesToBeBetween", {"column": "synthetic_score", "min_value": 0.0, "max_value": 1.0},
              why="score is a probability"),
    ]
    if source is not None:
        checks.append(Check("ExpectColumnValuesToBeInSet", {"column": "source", "value_set": [source]},
                            why=f"only {source} records in this stage"))
    else:
        checks.append(Check("ExpectColumnValuesToBeInSet", {"column": "source", "value_set": list(SOURCES)}))
    return checks


def _lang_check(g: GateConfig) -> Check:
    return Check("ExpectColumnValuesToBeInSet", {"column": "lang", "value_set": list(g.langs),
                                                 "mostly": g.min_lang_share}, why="language share")


def _quarantine_check(g: GateConfig) -> Check:
    return Check("ExpectColumnValuesToBeBetween",
                 {"column": "quarantined_fraction", "min_value": 0.0, "max_value": g.max_quarantine_fraction},
                 batch="summary", why="most of the input survives the stage")


def _min_rows(g: GateConfig) -> Check:
    return Check("ExpectTableRowCountToBeBetween", {"min_value": g.min_rows}, why="the stage produced data")


def drop_share_column(name: str) -> str:
    """The filter gate's summary column for filter ``name``: the share of the rows reaching it that it dropped."""
    return f"{name}_drop_share"


def expected_bounds(failure: dict[str, Any]) -> dict[str, Any]:
    """The limits a failed check held the data to, for explaining the failure (log line, run note)."""
    return {k: v for k, v in failure.get("kwargs", {}).items() if k in ("min_value", "max_value", "mostly")}


def _scrape_suite(g: GateConfig) -> list[Check]:
    return [_min_rows(g), *_record_checks(g, "scrape"), _lang_check(g), _quarantine_check(g)]


def _license_suite(g: GateConfig) -> list[Check]:
    # A year may have no licensed data, but what is there must be fully licensed.
    return [*_record_checks(g, "license"), _lang_check(g), _quarantine_check(g),
            *[Check("ExpectColumnValuesToNotBeNull", {"column": c}, why="licence validity: 100% of rows")
              for c in ("license_id", "publisher", "attribution")]]


def _synthesize_suite(g: GateConfig) -> list[Check]:
    return [*_record_checks(g, "synthetic"),
            Check("ExpectColumnValuesToBeInSet", {"column": "origin", "value_set": ["synthetic"]},
                  why="synthetic text is tagged at birth"),
            Check("ExpectColumnValuesToBeInSet", {"column": "signature_valid", "value_set": [True]},
                  why="valid signatures: 100% of synthetic rows"),
            _quarantine_check(g)]


def _filter_suite(g: GateConfig) -> list[Check]:
    # Figures of the whole stage (filter.counts.json): the records themselves are checked by the generation gate.
    return [_quarantine_check(g),
            Check("ExpectColumnValuesToBeBetween", {"column": "kept_rows", "min_value": g.min_rows},
                  batch="summary", why="the filters left rows to assemble"),
            *[Check("ExpectColumnValuesToBeBetween", {"column": drop_share_column(name), "min_value": 0.0,
                                                      "max_value": bound},
                    batch="summary", why=f"filter {name} drops at most {bound:.0%} of the rows reaching it")
              for name, bound in g.filter_bounds.items()]]


def _generation_suite(g: GateConfig) -> list[Check]:
    return [_min_rows(g), *_record_checks(g, None), _lang_check(g),
            Check("ExpectColumnValuesToBeBetween",
                  {"column": "duplicate_rate", "min_value": 0.0, "max_value": g.max_duplicate_rate},
                  batch="summary", why="duplicate rate"),
            Check("ExpectColumnValuesToBeBetween",
                  {"column": "human_share", "min_value": g.min_human_share, "max_value": 1.0},
                  batch="summary", why="floor on the human share"),
            Check("ExpectColumnValuesToBeBetween",
                  {"column": "synthetic_share_error", "min_value": 0.0, "max_value": g.synthetic_share_tolerance},
                  batch="summary", why="synthetic share within the policy's bounds"),
            Check("ExpectColumnValuesToBeBetween",
                  {"column": "row_change", "min_value": 1.0 / g.max_row_change, "max_value": g.max_row_change},
                  batch="summary", why="no sudden drop or jump against the parent generation"),
            Check("ExpectColumnValuesToBeBetween",
                  {"column": "length_drift", "min_value": 0.0, "max_value": g.max_length_drift},
                  batch="summary", why="text-length distribution drift against the parent"),
            Check("ExpectColumnValuesToBeBetween",
                  {"column": "lang_drift", "min_value": 0.0, "max_value": g.max_lang_drift},
                  batch="summary", why="language distribution drift against the parent"),
            ]


def _collapse_suite(g: GateConfig) -> list[Check]:
    # Only the failing level stops a year; the warning level is reported by the metrics step.
    checks = []
    for b in g.collapse_bounds:
        lo, hi = b.allowed("fail")
        checks.append(Check("ExpectColumnValuesToBeBetween", {"column": b.metric, "min_value": lo, "max_value": hi},
                            batch="summary", why=f"collapse bound: {b.metric} {b.direction} {b.fail}"))
    return checks


# Every gate's suite, in the order a year runs them: the one list of gates.
SUITES: dict[str, Callable[[GateConfig], list[Check]]] = {
    "scrape": _scrape_suite, "license": _license_suite, "synthesize": _synthesize_suite, "filter": _filter_suite,
    "generation": _generation_suite, "collapse": _collapse_suite,
}
GATES = tuple(SUITES)


def build_suite(gate: str, g: GateConfig) -> list[Check]:
    try:
        suite = SUITES[gate]
    except KeyError:
        raise KeyError(f"unknown gate {gate!r}; gates are {', '.join(GATES)}") from None
    return suite(g)


def columns_read(checks: list[Check]) -> list[str]:
    """The columns the ``rows`` checks read, in first-use order: what a gate projects from a stage's output."""
    return list(dict.fromkeys(c.kwargs["column"] for c in checks if c.batch == "rows" and "column" in c.kwargs))

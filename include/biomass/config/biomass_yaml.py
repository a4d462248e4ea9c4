"""The typed biomass.yaml: one YAML file (``BIOMASS_CONFIG``, else the bundled ``biomass.yaml``) plus per-run
overrides. The sections that kernels read (``dedup``, ``metrics``, ``provenance``) live in sibling modules below
the kernels; this module sits above them, because the ``filters`` section is checked against the filter registry.

Relative paths in a config file are resolved against the file's own folder, so a config means the same thing
whichever directory a worker starts in. ``{year}`` in an input pattern is replaced by the generation year.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import Field, field_validator, model_validator

from biomass.config.dedup import DedupConfig
from biomass.config.metrics import Bound, MetricsConfig
from biomass.config.provenance import ProvenanceConfig
from biomass.filters.pii_params import PIIParams
from biomass.strict import StrictModel
from biomass.schema import canonical_json

REPO_ROOT = Path(__file__).resolve().parents[3]
BUNDLED_CONFIG = REPO_ROOT / "biomass.yaml"

Policy = Literal["replace", "accumulate"]


class AiOptOutConfig(StrictModel):
    """Which AI opt-outs a page declares for itself are honoured (``biomass.stages.optout``): a page that fires one
    is quarantined as ``opted_out``. ``noimageai`` is off by default: it reserves a page's images, not its text,
    and the scrape publishes only text, so honouring it would drop text its owner did not opt out."""

    x_robots_tag_noai: bool = True
    x_robots_tag_noimageai: bool = False
    meta_robots_noai: bool = True
    meta_robots_noimageai: bool = False
    tdm_reservation_header: bool = True
    tdm_reservation_meta: bool = True
    user_agents: list[str] = Field(default_factory=lambda: ["ccbot"], description="crawlers whose copies we read: "
                                   "a directive scoped to one of them (X-Robots-Tag: ccbot: noai, <meta name=ccbot>) "
                                   "counts; unscoped ones always count, other agents' never")

    @field_validator("user_agents")
    @classmethod
    def _lower_agents(cls, agents: list[str]) -> list[str]:
        cleaned = [a.strip().lower() for a in agents]
        if not all(re.fullmatch(r"[a-z0-9][a-z0-9._-]*", a) for a in cleaned):
            raise ValueError(f"user_agents must be robots user-agent names (letters, digits, . _ -), got {agents!r}")
        return cleaned


class ScrapeConfig(StrictModel):
    inputs: list[str] = Field(default_factory=list, description="paths or globs; {year} is the generation year")
    max_record_bytes: int = 5_000_000
    min_chars: int = 200
    max_chars: int = 100_000
    optout_domains: list[str] = Field(default_factory=list)
    optout_url_patterns: list[str] = Field(default_factory=list, description="fnmatch patterns over the URL")
    human_era_cutoff: date = date(2023, 1, 1)
    ai_optout: AiOptOutConfig = AiOptOutConfig()


class LicenseConfig(StrictModel):
    inputs: list[str] = Field(default_factory=list, description="publisher drop folders or globs of them")
    known_publishers: list[str] = Field(default_factory=list, description="fail-closed: others are quarantined")
    min_chars: int = 200
    max_document_bytes: int = Field(20_000_000, gt=0, description="a larger document is quarantined as too_large, unread")
    max_manifest_bytes: int = Field(5_000_000, gt=0, description="a larger manifest is malformed_manifest, unparsed")
    human_era_cutoff: date = date(2023, 1, 1)


class SynthesizeConfig(StrictModel):
    backend: Literal["ngram", "openai"] = "ngram"
    order: int = 3
    prompt_tokens: int = 8
    max_train_docs: Optional[int] = Field(
        100_000, ge=1, description="train on a uniform seeded sample of at most this many parent documents (the "
        "whole parent when it has no more; the sample's size is in the stage notes and every manifest), so the "
        "model and its memory stay flat in the parent's size (a 900k-document parent's whole model: 4.75M "
        "trigrams, 1.03 GB to train, 1.14 GB a sampling shard); None: the whole parent however large (streamed)")
    max_output_words: int = Field(2_000, description="cap on one output's length (lengths follow training docs)")
    min_chars: int = Field(200, description="shorter outputs are quarantined as too_short (the gates' bound)")
    shard_docs: int = Field(25_000, ge=1, description="documents per sampling shard at most: a year's synthesis "
                            "runs as ceil(target / shard_docs) mapped shards of equal size (43k docs: 2, 430k: 18)")
    openai_base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible server (backend=openai)")
    openai_model: str = "default"
    openai_api_key_env: str = "BIOMASS_OPENAI_API_KEY"
    openai_timeout_s: float = 120.0
    openai_temperature: float = 1.0
    openai_max_concurrency: int = Field(8, ge=1, description="requests in flight at once (keeps a server's batch full)")
    openai_max_attempts: int = Field(6, ge=1, description="tries per request on 429/5xx/connection errors")
    openai_backoff_s: float = Field(0.5, ge=0, description="first retry wait; doubles, full jitter; Retry-After wins")
    openai_backoff_max_s: float = Field(30.0, ge=0, description="cap on one retry wait")


class RunLockConfig(StrictModel):
    """The lock one run of a year holds on its data root (``<data_root>/locks/<year>.lock``). Where and when a run
    happens, not what it produces: left out of the config hash."""

    timeout_seconds: float = Field(3600.0, gt=0, description="a lock whose heartbeat is older is stale and is "
                                   "taken over; must exceed the longest wait between two tasks of a DAG run")
    heartbeat_seconds: float = Field(30.0, gt=0, description="how often a running step refreshes the heartbeat")


class Reviewer(StrictModel):
    """One person who may decide a review: ``id`` is their Airflow user id (the auth manager's), ``name`` shown."""

    id: str = Field(min_length=1)
    name: str = ""


class ReviewConfig(StrictModel):
    """Expert review before publish (``biomass.review``). Who decides and how long they may take are run-time
    matters, not the data's: left out of the config hash, like the run lock."""

    mode: Literal["required", "auto", "off"] = Field("required", description="required: a person approves "
                                                    "before publish (the deployment default); auto: an automatic "
                                                    "approval, recorded as such (demo, tests); off: no review step")
    assigned_users: list[Reviewer] = Field(default_factory=list, description="who may decide in the Airflow UI "
                                           "(anyone else gets 403); empty: any user with access to the DAG")
    response_timeout_hours: float = Field(72.0, gt=0, description="no decision by then: the review fails closed "
                                          "(the run fails, nothing is published)")
    rare_docs: int = Field(10, ge=0, description="sampled documents richest in the reference's rare words")
    per_kind: int = Field(5, ge=0, description="sampled synthetic, unknown-origin and near-duplicate documents each")
    per_reason: int = Field(2, ge=0, description="sampled quarantined rows of each stage and reason")
    text_chars: int = Field(20_000, ge=200, description="a sampled document's text is kept up to this length")


class GateConfig(StrictModel):
    """Thresholds for the great-expectations suites. Every one can be overridden per run."""

    min_rows: int = 1
    min_chars: int = 200
    max_chars: int = 100_000
    min_lang_share: float = Field(0.8, description="share of rows in the expected languages")
    langs: list[str] = Field(default_factory=lambda: ["en"])
    max_quarantine_fraction: float = 0.5
    max_duplicate_rate: float = 0.5
    min_human_share: float = 0.4
    synthetic_share_tolerance: float = 0.1
    max_row_change: float = Field(3.0, description="fail if rows grow or shrink by more than this factor")
    max_length_drift: float = Field(0.2, description="JS divergence (bits) of text-length histograms vs the parent")
    max_lang_drift: float = Field(0.2, description="total variation of language shares vs the parent")
    collapse_bounds: list[Bound] = Field(default_factory=list, description="filled from metrics.bounds")
    filter_bounds: dict[str, float] = Field(default_factory=dict, description="max share of the rows reaching each "
                                            "filter that it may drop, by filter name; filled from filters.chain")


# --- filters (issue 15: the curation chain) ---------------------------------------------------------------------
class FilterSpec(StrictModel):
    """One step of the chain: a registered filter (``name`` or ``name/version``), its parameters, and the gate's
    bound on the share of the rows reaching it that it may drop (None: ``filters.max_drop_share``)."""

    name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    max_drop_share: Optional[float] = Field(None, ge=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class PIIConfig(StrictModel):
    """PII placeholders (``biomass.filters.pii``) on every row the chain keeps: e-mails, public IPs, phones."""

    enabled: bool = False
    params: PIIParams = PIIParams()


class FiltersConfig(StrictModel):
    """The curation chain run on every new row (scraped, licensed, synthetic) before dedup. Filters decide the
    output, so the chain is part of the config hash. Validated here, through the registry: an unknown name, a
    version the code does not implement, a name used twice or a bad parameter fails at config load."""

    chain: list[FilterSpec] = Field(default_factory=list, description="in order; a row is counted against the "
                                    "first filter that drops it; empty: the stage passes rows through untouched")
    max_drop_share: float = Field(0.5, ge=0.0, le=1.0, description="the filter gate's default bound on the share "
                                  "of the rows reaching a filter that it drops")
    pii: PIIConfig = PIIConfig()

    @field_validator("chain")
    @classmethod
    def _known_filters(cls, chain: list[FilterSpec]) -> list[FilterSpec]:
        from biomass.filters.base import FilterError
        from biomass.filters.registry import filter_class

        seen: set[str] = set()
        for spec in chain:
            filt = filter_class(spec.name)   # UnknownFilter (a ValueError) lists the known filters
            if filt.name in seen:
                raise ValueError(f"filter {filt.name!r} appears twice in the chain")
            seen.add(filt.name)
            try:
                filt.Params.model_validate(spec.params)
            except ValueError as exc:
                raise FilterError(f"filter {filt.name}/{filt.version}: bad parameters: {exc}") from exc
        return chain

    def bounds(self) -> dict[str, float]:
        """The gate's bound per filter, by the filter's name, in chain order."""
        from biomass.filters.registry import filter_class

        return {filter_class(s.name).name: (self.max_drop_share if s.max_drop_share is None else s.max_drop_share)
                for s in self.chain}

    def specs(self) -> list[dict[str, Any]]:
        """The chain as ``biomass.filters.build_chain`` takes it."""
        return [{"name": s.name, "params": dict(s.params)} for s in self.chain]


def _resolve_filter_paths(raw: dict[str, Any], base: Path) -> None:
    """Relative paths in a filter's parameters (those its Params lists in ``paths``) are relative to the config
    file, like every other path. An unknown filter is left for validation to report."""
    from biomass.filters.base import FilterError
    from biomass.filters.registry import filter_class

    for spec in (raw.get("filters") or {}).get("chain") or []:
        if not isinstance(spec, dict) or not isinstance(spec.get("params"), dict) or "name" not in spec:
            continue
        try:
            fields = filter_class(str(spec["name"])).Params.paths
        except FilterError:
            continue
        for key in fields:
            value = spec["params"].get(key)
            if isinstance(value, str):
                spec["params"][key] = _resolve(value, base)
            elif isinstance(value, list):
                spec["params"][key] = [_resolve(v, base) if isinstance(v, str) else v for v in value]
# --- end filters -----------------------------------------------------------------------------------------------


class BiomassConfig(StrictModel):
    data_root: str = "data"
    seed: int = 20260101
    policy: Policy = "replace"
    synthetic_share: float = Field(0.3, ge=0.0, lt=1.0)
    scrape: ScrapeConfig = ScrapeConfig()
    license: LicenseConfig = LicenseConfig()
    synthesize: SynthesizeConfig = SynthesizeConfig()
    dedup: DedupConfig = DedupConfig()
    gates: GateConfig = GateConfig()
    provenance: ProvenanceConfig = ProvenanceConfig()
    metrics: MetricsConfig = MetricsConfig()
    run_lock: RunLockConfig = RunLockConfig()
    review: ReviewConfig = ReviewConfig()
    filters: FiltersConfig = FiltersConfig()
    reference: str | None = Field(None, description="Parquet of human reference text for the collapse metrics; "
                                                    "empty: the human rows of the chain's first generation")

    @field_validator("data_root")
    @classmethod
    def _no_empty_root(cls, value: str) -> str:
        if not value:
            raise ValueError("data_root must not be empty")
        return value

    def config_hash(self) -> str:
        """What decides the output, hashed: two runs with the same hash and inputs give the same bytes.
        Where the data lives (data_root, the fingerprint archive), how runs are locked and who reviews them are
        left out: moving a root, changing a lock timeout or a reviewer changes nothing."""
        decided = self.model_dump(mode="json", exclude={"data_root": True, "run_lock": True, "review": True,
                                                        "provenance": {"fingerprint_archive"}})
        return hashlib.sha256(canonical_json(decided).encode()).hexdigest()[:16]

    def with_overrides(self, overrides: dict[str, Any]) -> "BiomassConfig":
        """Apply run-time overrides (Params, CLI flags); ``None`` means "keep the config file's value"."""
        data = self.model_dump(mode="json")
        for key, value in overrides.items():
            if value is None:
                continue
            node = data
            *parents, leaf = key.split(".")
            for part in parents:
                node = node[part]
            if leaf not in node:
                raise KeyError(f"unknown config key {key!r}")
            node[leaf] = value
        return BiomassConfig.model_validate(data)


def _resolve(path: str, base: Path) -> str:
    if "://" in path or os.path.isabs(path):
        return path
    return str((base / path).resolve())


# What load_config raises for a missing, unreadable or invalid file: OSError (FileNotFoundError,
# PermissionError...), ValueError (pydantic's ValidationError, UnicodeDecodeError, a non-mapping file) and
# yaml.YAMLError. Anything else is a bug and should not be caught as "bad config".
CONFIG_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, yaml.YAMLError)


def load_config(path: str | os.PathLike[str] | None = None) -> BiomassConfig:
    """Load the config file named by ``path``, else ``$BIOMASS_CONFIG``, else the bundled default.

    Raises one of ``CONFIG_ERRORS`` when the file is missing, unreadable or invalid.
    """
    chosen = Path(path or os.environ.get("BIOMASS_CONFIG") or BUNDLED_CONFIG)
    if not chosen.exists():
        raise FileNotFoundError(f"biomass config {chosen} does not exist (set BIOMASS_CONFIG or pass --config)")
    raw = yaml.safe_load(chosen.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"biomass config {chosen} must be a mapping of settings, not a {type(raw).__name__}")
    base = chosen.resolve().parent
    if os.environ.get("BIOMASS_DATA_ROOT"):
        raw["data_root"] = os.environ["BIOMASS_DATA_ROOT"]
    elif "data_root" in raw:
        raw["data_root"] = _resolve(raw["data_root"], base)
    for section in ("scrape", "license"):
        if section in raw and "inputs" in raw[section]:
            raw[section]["inputs"] = [_resolve(p, base) for p in raw[section]["inputs"]]
    if raw.get("reference"):
        raw["reference"] = _resolve(raw["reference"], base)
    _resolve_filter_paths(raw, base)
    prov = raw.get("provenance") or {}
    for key in ("signing_key_file", "fingerprint_archive"):
        if prov.get(key):
            prov[key] = _resolve(prov[key], base)
    return BiomassConfig.model_validate(raw)


def expand_inputs(patterns: list[str], year: int) -> list[str]:
    """Expand ``{year}`` and local globs into a sorted, de-duplicated list; remote URLs pass through."""
    out: list[str] = []
    for pattern in patterns:
        pattern = pattern.replace("{year}", str(year))
        if "://" in pattern:
            out.append(pattern)
        elif any(ch in pattern for ch in "*?["):
            out.extend(sorted(glob.glob(pattern)))
        else:
            out.append(pattern)
    return sorted(dict.fromkeys(out))


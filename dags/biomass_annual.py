"""
### biomass_annual: one generation of the corpus per year

`plan -> scrape (one task per input file) -> prepare_tagging -> tag (one task per shard) -> finish_scrape
-> gate -> license -> gate -> train_synthesizer -> synthesize (one task per shard) -> finish_synthesize -> gate
-> filter (one task per file of new rows) -> finish_filter -> gate -> sign (one task per filtered file)
-> assemble -> gate -> prepare_measure -> measure (one task per shard)
-> finish_measure -> collapse gate -> prepare_review -> review -> record_review -> publish -> release_lock`. Every step is a call into `biomass.pipeline`
(plain Python under `include/`); this file is wiring. The scrape's tagging is mapped over the shards between two
small reductions: `prepare_tagging` decides which URLs an earlier shard already kept and fixes the detector
reference; `finish_scrape` sums the counts. Synthesis is mapped the same way: `train_synthesizer` trains once and
saves the generator, each `synthesize` task samples one shard from it, `finish_synthesize` sums the counts. The
curation chain (`filters.chain`: language, URL blocklist, ...) runs over each new-row file, scraped, licensed and
synthetic (`filter`), `finish_filter` sums the per-filter counts and the filter gate bounds each filter's drop
share. Dedup signatures are mapped over the filtered files (`sign`) before `assemble`, the LSH clustering and mix,
reduces them; collapse statistics over the generation's shards (`measure`) before `finish_measure` merges them.

**One run per year and data root.** `plan` takes `<data_root>/locks/<year>.lock` for this DAG run (a second
run of the same year fails its `plan` task, naming the holder); every later task checks the run still holds it
and refreshes its heartbeat; the `release_lock` teardown removes it when the run ends, failed or not.

**Which year?** The `year` Param if given, else the year of the run's logical date in UTC. The scheduled run on
1 January 2026 builds generation 2026. A manual run with no logical date must pass `year`.

**Backfill past years** oldest first (each year reads the newest generation published before it):
`airflow backfill create --dag-id biomass_annual --from-date 2021-01-01 --to-date 2025-01-01 --max-active-runs 1`
(a backfill has its own run limit, 10 by default; one at a time keeps each year on the right parent).

A data root with no earlier generation starts a chain: that year has no parent, so it synthesizes nothing.
**Review before publish** (`review_mode` Param, else the config's `review.mode`): `prepare_review` draws the
review sample and renders what the reviewer reads; in mode `required` the `review` task (a human-in-the-loop
operator) waits under Browse > Required Actions for one of the config's `review.assigned_users` to Approve (listing
doc_ids under `exclude` to leave them out) or Reject (with a `comment`); no answer within
`review.response_timeout_hours` fails the run (fail closed). Modes `auto` (an automatic approval, labelled as such)
and `off` skip the wait. A reject fails `record_review`, with the reason in the run note, and publishes nothing.

A failing gate fails its task without retries; everything after it stays unrun and nothing is published.
The evidence stays in `<data_root>/staging/<year>/gates/`. Each run's note says what happened: the failed gate
and expectations with a link to their Data Docs page, or the published year's size and mix.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Asset, AssetAlias, CronTriggerTimetable, Param, dag, task, teardown
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

GENERATIONS = AssetAlias("biomass-generations")
# The reduction after a mapped step runs when the map had nothing to do (a chain's first year synthesizes no
# shards: Airflow marks a map over [] skipped, which would skip everything after it), never after a failure.
AFTER_MAP = "none_failed"


def _load_plan(path: str):
    """The run plan, with signing and watermark keys from Airflow Variables, read at run time only (never at
    parse time). Unset Variables fall back to the config: key files, $BIOMASS_SIGNING_KEY, $BIOMASS_WATERMARK_KEY."""
    from airflow.sdk import Variable

    from biomass.pipeline import RunPlan

    return RunPlan.load(path, {"signing_key": Variable.get("biomass_signing_private_key", default=None),
                               "watermark_key": Variable.get("biomass_watermark_secret", default=None)})


@contextmanager
def _plan(path: str, run_id: str):
    """The run plan, while this DAG run holds the year's run lock: checked (taken again if a re-run finds it
    free), its heartbeat kept fresh during the step. Held by another run, or a generation it reads is damaged
    (a retry would find the same): the task fails without retries."""
    from biomass.pipeline import LockLost, RunLocked
    from biomass.storage import IntegrityError

    run = _load_plan(path)
    try:
        lock = run.run_lock(run_id, spans_processes=True).resume()
        with lock.holding(run.cfg.run_lock.heartbeat_seconds):
            yield run
    except (RunLocked, LockLost, IntegrityError) as exc:
        raise AirflowFailException(str(exc)) from exc


class ReviewOperator(HITLOperator):
    """The year's review in the Airflow UI: waits for a person only in review mode `required`; subject, body,
    assigned users and response timeout come from the run's plan at run time (never at parse time)."""

    def execute(self, context):
        prepared = context["ti"].xcom_pull(task_ids="prepare_review")
        if prepared["mode"] != "required":
            raise AirflowSkipException(f"review mode {prepared['mode']}: prepare_review recorded it")
        cfg = _load_plan(context["ti"].xcom_pull(task_ids="plan")).cfg.review
        self.subject, self.body = prepared["subject"], prepared["body"]
        self.assigned_users = [{"id": u.id, "name": u.name or u.id} for u in cfg.assigned_users] or None
        self.response_timeout = timedelta(hours=cfg.response_timeout_hours)
        return super().execute(context)


def _nullable(kind: str, description: str, **schema) -> Param:
    return Param(None, type=["null", kind], description=description, **schema)


@dag(
    dag_id="biomass_annual",
    # 00:00 UTC on 1 January: a trigger timetable, so the logical date is that instant (see the docstring).
    schedule=CronTriggerTimetable("0 0 1 1 *", timezone="UTC"),
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["biomass"],
    doc_md=__doc__,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=30)},
    params={
        "year": _nullable("integer", "Generation year. Empty: the logical date's year (UTC).", minimum=1900,
                          maximum=9999),
        "data_root": _nullable("string", "Where generations live. Empty: the config file's data_root."),
        "scrape_inputs": _nullable("array", "WARC / HTML dir / JSONL / Parquet paths or fsspec URLs; {year} "
                                            "is replaced. Empty: the config file's scrape.inputs."),
        "license_inputs": _nullable("array", "Publisher drop folders. Empty: the config file's license.inputs."),
        "policy": Param(None, type=["null", "string"], enum=[None, "replace", "accumulate"],
                        description="Mixing policy. Empty: the config file's policy."),
        "synthetic_share": _nullable("number", "Target synthetic share of the new generation.", minimum=0,
                                     maximum=0.95),
        "seed": _nullable("integer", "Run seed. Same year + inputs + seed = byte-identical output."),
        "gate_overrides": Param({}, type="object", description="Gate thresholds to override for this run: "
                                "{\"max_quarantine_fraction\": 0.6} for every gate, {\"scrape\": "
                                "{\"max_quarantine_fraction\": 0.7}} for one. Recorded in the manifest."),
        "review_mode": Param(None, type=["null", "string"], enum=[None, "required", "auto", "off"],
                             description="Review before publish: required (a person decides in Required "
                                         "Actions), auto (automatic approval, labelled), off. Empty: the config's "
                                         "review.mode."),
    },
)
def biomass_annual():
    @task(retries=0)
    def plan(params=None, logical_date=None, run_id=None) -> str:
        """Take the year's run lock, fix the year, inputs and config for this run and clear its staging area."""
        from biomass.pipeline import RunLocked, check_gate_overrides, make_plan

        year = params["year"]
        if year is None:
            if logical_date is None:
                raise AirflowFailException("this run has no logical date: pass the `year` Param")
            year = pendulum.instance(logical_date).in_timezone("UTC").year
        try:
            run = make_plan(int(year), scrape_inputs=params["scrape_inputs"],
                            license_inputs=params["license_inputs"], data_root=params["data_root"],
                            policy=params["policy"], synthetic_share=params["synthetic_share"], seed=params["seed"],
                            review_mode=params.get("review_mode"), run_id=run_id, spans_processes=True)
        except RunLocked as exc:
            raise AirflowFailException(str(exc)) from exc
        try:
            check_gate_overrides(run.cfg, params["gate_overrides"])
        except ValueError as exc:
            run.run_lock(run_id, spans_processes=True).release()
            raise AirflowFailException(str(exc)) from exc
        return str(run.staging / "plan.json")

    @teardown
    def release_lock(ti=None, run_id=None) -> bool:
        """Release this run's lock when the run ends, whatever happened (never another run's lock)."""
        plan_path = ti.xcom_pull(task_ids="plan")
        if not plan_path:   # the plan task failed: this run never held the lock
            return False
        return _load_plan(plan_path).run_lock(run_id, spans_processes=True).release()

    @task
    def scrape_shards(plan_path: str, run_id=None) -> list[int]:
        with _plan(plan_path, run_id) as run:
            return list(range(len(run.scrape_inputs)))

    @task(map_index_template="{{ task.op_kwargs['index'] }}")
    def scrape(plan_path: str, index: int, run_id=None) -> dict:
        """Scrape one input file; mapped over the inputs so files spread across workers."""
        from biomass.pipeline import run_scrape_shard

        with _plan(plan_path, run_id) as run:
            return run_scrape_shard(run, index).as_dict()

    @task(trigger_rule=AFTER_MAP)
    def prepare_tagging(plan_path: str, shards: list[dict], run_id=None) -> list[int]:
        """Decide the cross-shard URL rule and fix the detector reference once; the shards to tag."""
        from biomass.pipeline import prepare_tagging

        with _plan(plan_path, run_id) as run:
            prepare_tagging(run)
            return list(range(len(run.scrape_inputs)))

    @task(map_index_template="{{ task.op_kwargs['index'] }}")
    def tag(plan_path: str, index: int, run_id=None) -> int:
        """Tag one scraped shard (the costly part); mapped over the shards so tagging spreads across workers."""
        from biomass.pipeline import tag_scrape_shard

        with _plan(plan_path, run_id) as run:
            return tag_scrape_shard(run, index)

    @task(trigger_rule=AFTER_MAP)
    def finish_scrape(plan_path: str, tagged: list[int], run_id=None) -> dict:
        """Sum the shards' counts and write the scrape's quarantine."""
        from biomass.pipeline import finish_scrape

        with _plan(plan_path, run_id) as run:
            return finish_scrape(run).as_dict()

    @task(task_id="license")
    def license_(plan_path: str, run_id=None) -> dict:
        from biomass.pipeline import run_license

        with _plan(plan_path, run_id) as run:
            return run_license(run).as_dict()

    @task
    def train_synthesizer(plan_path: str, run_id=None) -> list[int]:
        """Train the generator on the parent once and save it for the shards; the shards to sample."""
        from biomass.pipeline import train_synthesizer

        with _plan(plan_path, run_id) as run:
            return train_synthesizer(run)

    @task(map_index_template="{{ task.op_kwargs['index'] }}")
    def synthesize(plan_path: str, index: int, run_id=None) -> dict:
        """Sample one shard of the synthetic records from the saved generator; mapped so workers share it."""
        from biomass.pipeline import synthesize_shard

        with _plan(plan_path, run_id) as run:
            return synthesize_shard(run, index)

    @task(trigger_rule=AFTER_MAP)
    def finish_synthesize(plan_path: str, parts: list[dict], run_id=None) -> dict:
        """Sum the shards' counts (rows in = out + quarantined)."""
        from biomass.pipeline import finish_synthesize

        with _plan(plan_path, run_id) as run:
            return finish_synthesize(run).as_dict()

    @task
    def filter_shards(plan_path: str, run_id=None) -> list[int]:
        """The year's new-row files to filter (known once synthesize has run): one filter task each."""
        from biomass.pipeline import new_row_files

        with _plan(plan_path, run_id) as run:
            return list(range(len(new_row_files(run))))

    @task(task_id="filter", map_index_template="{{ task.op_kwargs['index'] }}")
    def filter_(plan_path: str, index: int, run_id=None) -> dict:
        """Run the filter chain over one file of new rows; mapped so filtering spreads across workers."""
        from biomass.pipeline import filter_shard

        with _plan(plan_path, run_id) as run:
            return filter_shard(run, index)

    @task(trigger_rule=AFTER_MAP)
    def finish_filter(plan_path: str, parts: list[dict], run_id=None) -> dict:
        """Sum the files' per-filter counts (rows in = out + quarantined) and write the stage's quarantine."""
        from biomass.pipeline import finish_filter

        with _plan(plan_path, run_id) as run:
            return finish_filter(run).as_dict()

    @task
    def sign_shards(plan_path: str, run_id=None) -> list[int]:
        """The year's filtered new-row files to sign (known once the filter stage has run): one sign task each."""
        from biomass.pipeline import assemble_inputs

        with _plan(plan_path, run_id) as run:
            return list(range(len(assemble_inputs(run))))

    @task(map_index_template="{{ task.op_kwargs['index'] }}")
    def sign(plan_path: str, index: int, run_id=None) -> int:
        """MinHash signatures of one file of new rows; mapped so signing spreads across workers."""
        from biomass.pipeline import sign_shard

        with _plan(plan_path, run_id) as run:
            return sign_shard(run, index)

    @task
    def assemble(plan_path: str, run_id=None) -> dict:
        from biomass.pipeline import run_assemble

        with _plan(plan_path, run_id) as run:
            return run_assemble(run).as_dict()

    @task
    def prepare_measure(plan_path: str, run_id=None) -> list[int]:
        """Fix the reference profile every shard is measured against, once; the shards to measure."""
        from biomass.pipeline import prepare_measure

        with _plan(plan_path, run_id) as run:
            return list(range(prepare_measure(run)))

    @task(map_index_template="{{ task.op_kwargs['index'] }}")
    def measure(plan_path: str, index: int, run_id=None) -> dict:
        """One shard's mergeable metrics statistics (reused from the parent for a carried shard); mapped."""
        from biomass.pipeline import measure_shard

        with _plan(plan_path, run_id) as run:
            return measure_shard(run, index)

    @task(trigger_rule=AFTER_MAP)
    def finish_measure(plan_path: str, shards: list[dict], run_id=None) -> dict:
        """Merge the shards' statistics into the collapse metrics; a warning level is logged, not fatal."""
        from biomass.pipeline import finish_measure

        with _plan(plan_path, run_id) as run:
            return finish_measure(run)["collapse"]

    def gate(name: str):
        @task(task_id=f"gate_{name}", retries=0)
        def _gate(plan_path: str, params=None, ti=None, run_id=None) -> dict:
            """A failing gate fails here, once, and stops everything after it; its verdict becomes the run note."""
            from biomass.gates.runner import GateFailed
            from biomass.run_notes import NOTE_KEY
            from biomass.pipeline import run_gate_for
            from biomass.pipeline.notes import failed_gate_note

            with _plan(plan_path, run_id) as run:
                try:
                    return run_gate_for(run, name, params["gate_overrides"]).summary()
                except GateFailed as exc:
                    ti.xcom_push(key=NOTE_KEY, value=failed_gate_note(run, exc.result))
                    raise AirflowFailException(str(exc)) from exc

        return _gate

    @task(retries=0)
    def prepare_review(plan_path: str, run_id=None) -> dict:
        """Draw the review sample and render its body; record the approval in mode auto (or that none ran). In
        mode required, the run lock stays live (no heartbeat) until the review's deadline."""
        from biomass.review.decision import lock_deadline, prepare_review

        with _plan(plan_path, run_id) as run:
            prepared = prepare_review(run)
            if prepared["mode"] == "required":   # no task refreshes the lock while a person reads: mark it live
                run.run_lock(run_id, spans_processes=True).await_review(lock_deadline(run))
            return prepared

    review = ReviewOperator(
        task_id="review", subject="biomass: review before publish", options=["Approve", "Reject"], retries=0,
        # comment may be empty (the UI keeps Approve disabled while a non-null field is empty); a reject without one
        # fails record_review, asking for it.
        params={"comment": Param(None, type=["null", "string"], description="Why (required to reject); into the "
                                 "manifest"),
                "exclude": Param([], type="array", items={"type": "string"}, description="doc_ids to leave out "
                                 "of the generation (quarantined as reviewer_excluded) when approving; one a line")})

    @task(trigger_rule="none_failed", retries=0)
    def record_review(plan_path: str, ti=None, run_id=None) -> dict:
        """Record the reviewer's answer (who, when, comment, exclusions) and apply it; a reject fails here."""
        from biomass.run_notes import NOTE_KEY, review_rejected_note
        from biomass.review.decision import ReviewPending, ReviewRejected, record_decision, require_decision

        answer = ti.xcom_pull(task_ids="review")
        with _plan(plan_path, run_id) as run:
            try:
                if answer:   # review mode required: a person answered in Airflow
                    user, given = answer.get("responded_by_user") or {}, answer.get("params_input") or {}
                    record_decision(run, approve=answer["chosen_options"] == ["Approve"],
                                    by=user.get("name") or user.get("id") or "unknown", at=answer.get(
                                        "responded_at"), comment=given.get("comment") or "",
                                    exclude=given.get("exclude") or [])
                return require_decision(run).as_dict()
            except (ReviewRejected, ReviewPending, ValueError) as exc:
                ti.xcom_push(key=NOTE_KEY, value=review_rejected_note(run.year, str(exc)))
                raise AirflowFailException(str(exc)) from exc

    @task(outlets=[GENERATIONS], retries=0)
    def publish(plan_path: str, outlet_events=None, ti=None, run_id=None) -> dict:
        """Publish atomically and announce the generation as its own Asset, figures in the event's extra."""
        from biomass.run_notes import NOTE_KEY
        from biomass.pipeline import asset_extra, publish
        from biomass.pipeline.notes import publish_note

        with _plan(plan_path, run_id) as run:
            manifest = publish(run)
        ti.xcom_push(key=NOTE_KEY, value=publish_note(run, manifest))
        generation = Asset(name=f"biomass-generation-{run.year}",
                           uri=f"file://{run.store.generation_dir(run.year)}")
        outlet_events[GENERATIONS].add(generation, extra=asset_extra(manifest))
        return {"year": run.year, "rows": manifest.rows, "manifest": str(run.store.manifest_path(run.year))}

    path = plan()
    shards = scrape.partial(plan_path=path).expand(index=scrape_shards(path))
    to_tag = prepare_tagging(path, shards)
    scraped = finish_scrape(path, tag.partial(plan_path=path).expand(index=to_tag))
    g_scrape = gate("scrape")(path)
    licensed = license_(path)
    g_license = gate("license")(path)
    trained = train_synthesizer(path)
    synthetic = finish_synthesize(path, synthesize.partial(plan_path=path).expand(index=trained))
    g_synth = gate("synthesize")(path)
    to_filter = filter_shards(path)
    filtered = finish_filter(path, filter_.partial(plan_path=path).expand(index=to_filter))
    g_filter = gate("filter")(path)
    to_sign = sign_shards(path)
    signed = sign.partial(plan_path=path).expand(index=to_sign)
    assembled = assemble(path)
    g_generation = gate("generation")(path)
    to_measure = prepare_measure(path)
    measured = finish_measure(path, measure.partial(plan_path=path).expand(index=to_measure))
    g_collapse = gate("collapse")(path)
    prepared = prepare_review(path)
    recorded = record_review(path)
    published = publish(path)
    published >> release_lock()
    (scraped >> g_scrape >> licensed >> g_license >> trained)
    synthetic >> g_synth >> to_filter
    filtered >> g_filter >> to_sign >> signed >> assembled >> g_generation >> to_measure
    measured >> g_collapse >> prepared >> review >> recorded >> published


biomass_annual()

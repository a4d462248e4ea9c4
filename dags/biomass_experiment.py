"""
### biomass_experiment: what each data policy does to the tails, generation after generation

Runs N generations of train -> generate -> retrain from one human reference under each policy (`replace`,
`accumulate`, `human-floor`, `filtered`), one mapped task per policy (every seed, and for human-floor the share
sweep), then writes `experiment.csv`, `experiment.md` and `experiment.png` (mean and 95% interval over `seeds`)
to `out_dir`. Trigger it by hand; by default the reference pool is the human text of the first generation
published under the data root. See `biomass.experiment` for the definitions.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

POLICIES = ["replace", "accumulate", "human-floor", "filtered"]


@dag(
    dag_id="biomass_experiment",
    schedule=None,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    tags=["biomass", "experiment"],
    doc_md=__doc__,
    default_args={"retries": 0},
    params={
        "reference": Param(None, type=["null", "array"], description="Parquet files of human reference text. "
                                                                      "Empty: the data root's first generation."),
        "data_root": Param(None, type=["null", "string"], description="Empty: the config file's data_root."),
        "generations": Param(5, type="integer", minimum=1, maximum=50),
        "policies": Param(POLICIES, type="array", items={"type": "string", "enum": POLICIES}),
        "human_floor": Param(0.3, type="number", minimum=0, maximum=1),
        "seed": Param(7, type="integer", description="used when `seeds` is empty"),
        "seeds": Param([], type="array", items={"type": "integer"},
                       description="several seeds: every policy runs under each, results get 95% intervals"),
        "share_sweep": Param([], type="array", items={"type": "number", "minimum": 0, "maximum": 1},
                             description="extra human-floor shares, run in the human-floor task"),
        "out_dir": Param(None, type=["null", "string"], description="Empty: <data_root>/experiments/<run id>."),
    },
)
def biomass_experiment():
    @task
    def prepare(params=None, run_id=None) -> dict:
        """Resolve the reference files and the output folder once, for every policy task."""
        from biomass.experiment import experiment_inputs

        return experiment_inputs(params["reference"], params["data_root"], params["out_dir"], run_id)

    @task(map_index_template="{{ task.op_kwargs['policy'] }}")
    def run_policy(setup: dict, policy: str, params=None) -> str:
        from biomass.experiment import config_from_params, run_policy_to_file

        return run_policy_to_file(policy, setup["reference"], config_from_params(params, [policy]), setup["out_dir"])

    @task
    def summarize(setup: dict, results: list[str], params=None) -> str:
        from biomass.experiment import config_from_params, summarize_files

        return summarize_files(list(results), setup["out_dir"], config_from_params(params, params["policies"]))

    @task
    def policies(params=None) -> list[str]:
        return list(params["policies"])

    setup = prepare()
    results = run_policy.partial(setup=setup).expand(policy=policies())
    summarize(setup, results)


biomass_experiment()

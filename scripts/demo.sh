#!/usr/bin/env bash
# The main job on the embedded default: biomass_annual through Airflow (SQLite, AIRFLOW_HOME=.airflow) for
# consecutive years, oldest first, as a backfill would run them; then the per-year table.
# Usage: scripts/demo.sh FIRST_YEAR LAST_YEAR   (the Makefile sets AIRFLOW_HOME and BIOMASS_DATA_ROOT)
set -euo pipefail
first=${1:-2021}
last=${2:-2025}
bin="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin"
: "${AIRFLOW_HOME:?run through make demo}"
: "${BIOMASS_DATA_ROOT:?run through make demo}"
logs="$AIRFLOW_HOME/demo-logs"
mkdir -p "$logs"

# A signing key for synthetic text, made once per checkout (never committed) and handed to the DAG the way a
# deployment would: as an Airflow Variable (its name contains "private_key", so Airflow masks it).
key="$AIRFLOW_HOME/keys/signing.key"
[ -f "$key" ] || "$bin/biomass" keygen --out "$key" > /dev/null
"$bin/airflow" variables set biomass_signing_private_key "$(cat "$key")" > "$logs/variables.log" 2>&1

"$bin/airflow" dags reserialize > "$logs/reserialize.log" 2>&1 || { tail -40 "$logs/reserialize.log"; exit 1; }
for year in $(seq "$first" "$last"); do
  start=$(date +%s)
  printf 'biomass_annual %s ... ' "$year"
  if "$bin/airflow" dags test biomass_annual "${year}-01-01T00:00:00+00:00" > "$logs/$year.log" 2>&1 \
      && [ -f "$BIOMASS_DATA_ROOT/generations/$year/manifest.json" ]; then
    echo "published in $(( $(date +%s) - start ))s (log: $logs/$year.log)"
  else
    echo "FAILED (log: $logs/$year.log)"
    grep -E "gate .* FAILED|ERROR|Error" "$logs/$year.log" | tail -20
    exit 1
  fi
done

echo
"$bin/biomass" generations --data-root "$BIOMASS_DATA_ROOT"
echo
echo "Airflow's record of the runs (airflow dags list-runs biomass_annual):"
"$bin/airflow" dags list-runs biomass_annual 2>/dev/null | grep -v "^\s*$" | head -20
echo
echo "Observatory: run 'AIRFLOW_HOME=$AIRFLOW_HOME .venv/bin/airflow standalone' and open Browse > Collapse observatory."

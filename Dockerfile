# biomass on the official Airflow image: the project installed from its lock, same versions as `make venv`.
#
# The -python3.11 variant because requirements.lock is compiled for Python 3.11 and pyproject says <3.12.
# Build: docker compose build   (or: docker build -t biomass-airflow:local .)
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

# Where the project lives inside every container. biomass.config resolves biomass.yaml and its relative input
# paths against this folder, which is why the install below is editable (a wheel would move the code away).
ENV BIOMASS_HOME=/opt/biomass
ENV BIOMASS_CONFIG=/opt/biomass/biomass.yaml \
    BIOMASS_DATA_ROOT=/opt/biomass/data

USER root
# gcc builds biomass.dedup._minhash, the compiled MinHash kernel (setup.py), during the install below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
RUN mkdir -p ${BIOMASS_HOME}/data ${BIOMASS_HOME}/kernel /opt/airflow/auth \
    && chown -R airflow:0 ${BIOMASS_HOME} /opt/airflow/auth \
    && chmod -R g+rwX ${BIOMASS_HOME} /opt/airflow/auth

# The official images run as `airflow` and install into its user site; stay that user for pip.
USER airflow
WORKDIR ${BIOMASS_HOME}

# Dependencies first: this layer is rebuilt only when the lock changes. apache-airflow stays pinned explicitly so
# that pip can never move the Airflow the image was built for.
COPY --chown=airflow:0 requirements.lock ${BIOMASS_HOME}/requirements.lock
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r ${BIOMASS_HOME}/requirements.lock

# The project itself, without touching the dependencies the lock fixed.
COPY --chown=airflow:0 pyproject.toml setup.py README.md biomass.yaml ${BIOMASS_HOME}/
COPY --chown=airflow:0 include ${BIOMASS_HOME}/include
COPY --chown=airflow:0 samples ${BIOMASS_HOME}/samples
# An editable install compiles the kernel next to its source, in include/. Compose mounts the host's include/
# over that folder, so a copy of the built kernel (and the source it came from) is kept aside in kernel/ for
# airflow-init to put back (see docker-compose.yaml).
RUN pip install --no-cache-dir --no-deps -e ${BIOMASS_HOME} \
    && cp ${BIOMASS_HOME}/include/biomass/dedup/_minhash*.so ${BIOMASS_HOME}/include/biomass/dedup/_minhash.c \
          ${BIOMASS_HOME}/kernel/ \
    && python -c "import biomass.dedup._minhash, biomass.pipeline"

# Baked in so the image runs without bind mounts (e.g. on remote Celery workers); compose mounts over them.
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins

WORKDIR /opt/airflow

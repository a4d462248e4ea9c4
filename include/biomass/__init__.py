"""biomass: build a new generation of a training corpus every year without letting it eat itself.

This package imports nothing from Airflow; the DAGs in ``dags/`` are thin wiring over it.
"""

__version__ = "0.1.0"

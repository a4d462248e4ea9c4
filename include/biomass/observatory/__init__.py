"""The collapse observatory: generation figures as JSON and as a page inside the Airflow UI."""

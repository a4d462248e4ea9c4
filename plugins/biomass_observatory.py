"""Airflow plugin: the collapse observatory inside the Airflow UI.

Airflow mounts plugin FastAPI apps without its own authentication, so every route here requires an authenticated
user allowed to see plugins (the same JWT cookie the UI uses, or a Bearer token). Anonymous requests get 401.
"""

from __future__ import annotations

from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.core_api.security import requires_access_view
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends

from biomass.config import load_config
from biomass.observatory.app import URL_PREFIX, create_app

observatory = create_app(lambda: load_config().data_root,
                         dependencies=[Depends(requires_access_view(AccessView.PLUGINS))])


class BiomassObservatoryPlugin(AirflowPlugin):
    name = "biomass_observatory"
    fastapi_apps = [{"app": observatory, "url_prefix": URL_PREFIX, "name": "biomass observatory"}]
    external_views = [{
        "name": "Collapse observatory",
        "href": f"{URL_PREFIX}/",
        "url_route": "biomass",
        "destination": "nav",
        "category": "browse",
    }]

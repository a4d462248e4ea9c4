"""The observatory plugin inside Airflow's own API app: anonymous requests are refused, users see the chain."""

from __future__ import annotations

import json
import os

import pytest

from tests.fake_chain import publish_fake_chain

pytestmark = pytest.mark.airflow
ROUTES = ["/biomass/", "/biomass/api/generations", "/biomass/api/generations/2021/manifest",
          "/biomass/datadocs/index.html"]


@pytest.fixture(scope="module")
def client(airflow_db, tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    publish_fake_chain(data)
    os.environ["BIOMASS_DATA_ROOT"] = str(data)
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = "viewer:viewer"
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app()) as c:
        yield c
    os.environ.pop("BIOMASS_DATA_ROOT")


def _token(client) -> str:
    home = os.environ["AIRFLOW_HOME"]
    passwords = json.load(open(os.path.join(home, "simple_auth_manager_passwords.json.generated")))
    r = client.post("/auth/token", json={"username": "viewer", "password": passwords["viewer"]})
    assert r.status_code == 201, r.text
    return r.json()["access_token"]


@pytest.mark.parametrize("route", ROUTES)
def test_anonymous_is_refused(client, route):
    assert client.get(route).status_code == 401


def test_forged_token_is_refused(client):
    r = client.get("/biomass/api/generations", headers={"Authorization": "Bearer not.a.jwt"})
    assert r.status_code in (401, 403)


def test_authenticated_user_sees_every_published_generation(client):
    r = client.get("/biomass/api/generations", headers={"Authorization": f"Bearer {_token(client)}"})
    assert r.status_code == 200
    gens = r.json()["generations"]
    assert [g["year"] for g in gens] == [2021, 2022, 2023]
    assert gens[2]["metrics"]["tail_coverage"] == pytest.approx(0.8)
    assert gens[1]["duplicates_removed"] == 2


def test_ui_cookie_works_for_the_page_and_manifest(client):
    token = _token(client)
    client.cookies.set("_token", token)
    try:
        assert "Collapse observatory" in client.get("/biomass/").text
        assert client.get("/biomass/api/generations/2022/manifest").json()["parent"] == 2021
        assert client.get("/biomass/api/generations/1999/manifest").status_code == 404
        assert client.get("/biomass/datadocs/%2e%2e/%2e%2e/%2e%2e/etc/passwd").status_code == 404
    finally:
        client.cookies.clear()


def test_plugin_registers_an_external_view(client):
    r = client.get("/api/v2/plugins", headers={"Authorization": f"Bearer {_token(client)}"})
    plugin = next(p for p in r.json()["plugins"] if p["name"] == "biomass_observatory")
    assert plugin["external_views"][0]["url_route"] == "biomass"
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/biomass"

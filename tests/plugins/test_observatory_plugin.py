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


def _docs_root(tmp_path, name: str):
    from biomass.datadocs import DATA_DOCS

    root = tmp_path / name
    (root / DATA_DOCS).parent.mkdir(parents=True)
    return root, root / DATA_DOCS


@pytest.mark.parametrize("link", ["local_site", "gx"])
def test_a_symlinked_data_docs_folder_is_not_served(client, tmp_path, monkeypatch, link):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "index.html").write_text("a host folder that is not Data Docs")
    (elsewhere / "gx" / "uncommitted" / "data_docs" / "local_site").mkdir(parents=True)
    (elsewhere / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").write_text("via a symlinked gx/")
    root, site = _docs_root(tmp_path, "data")
    if link == "local_site":
        site.symlink_to(elsewhere, target_is_directory=True)
    else:
        (root / "gx").rename(tmp_path / "gone")
        (root / "gx").symlink_to(elsewhere, target_is_directory=True)
    monkeypatch.setenv("BIOMASS_DATA_ROOT", str(root))
    r = client.get("/biomass/datadocs/index.html", headers={"Authorization": f"Bearer {_token(client)}"})
    assert r.status_code == 403 and "symlink" in r.json()["detail"]
    assert "host folder" not in r.text and "via a symlinked" not in r.text


def test_data_docs_under_a_symlinked_data_root_are_served(client, tmp_path, monkeypatch):
    real, site = _docs_root(tmp_path, "mnt")
    site.mkdir()
    (site / "index.html").write_text("<p>real Data Docs</p>")
    (tmp_path / "data").symlink_to(real, target_is_directory=True)  # an operator's mount point: fine
    monkeypatch.setenv("BIOMASS_DATA_ROOT", str(tmp_path / "data"))
    r = client.get("/biomass/datadocs/index.html", headers={"Authorization": f"Bearer {_token(client)}"})
    assert r.status_code == 200 and "real Data Docs" in r.text

"""The observatory in a real browser: a real `airflow api-server`, headless Debian Chromium, a real login.

The published chain here is FAKE (tests/fake_chain.py): this test is about the page, its charts and its auth.
CI installs chromium and chromium-driver (.ci/run) and sets BIOMASS_REQUIRE_BROWSER=1, so a missing browser
fails there instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fake_chain import publish_fake_chain

pytestmark = pytest.mark.airflow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _require_browser() -> None:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        message = "Debian chromium + chromium-driver are needed (apt-get install chromium chromium-driver)"
        if os.environ.get("BIOMASS_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"api-server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # the server answers; a 401/404 is still an answer
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@pytest.fixture(scope="module")
def server(airflow_db, tmp_path_factory):
    _require_browser()
    data = tmp_path_factory.mktemp("chain")
    publish_fake_chain(data, years=(2021, 2022, 2023, 2024))
    secrets = tmp_path_factory.mktemp("auth")
    passwords = secrets / "passwords.json"
    passwords.write_text(json.dumps({"operator": "observatory-test-password"}))
    port = _free_port()
    env = {**os.environ, "BIOMASS_DATA_ROOT": str(data),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "operator:viewer",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
           "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
           "AIRFLOW__API_AUTH__JWT_SECRET": "browser-test-only-secret-" + "x" * 40}
    log = open(secrets / "api-server.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "api-server", "--port", str(port),
                             "--host", "127.0.0.1"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/v2/monitor/health", 120, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def headless_chrome(window: str = "1400,1000", page_load_timeout: float = 60):
    """Debian's Chromium under chromedriver, headless and offline (the browser tests here and in integration)."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--window-size={window}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    return driver


@pytest.fixture(scope="module")
def browser():
    driver = headless_chrome()
    yield driver
    driver.quit()


def test_anonymous_request_is_refused(server):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{server}/biomass/api/generations", timeout=10)
    assert err.value.code == 401


def test_login_then_page_renders_one_point_per_generation(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(f"{server}/auth/login/")
    user = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[name='username']")))
    user.send_keys("operator")
    password = browser.find_element(By.CSS_SELECTOR, "input[type='password']")
    password.send_keys("observatory-test-password", Keys.ENTER)
    wait.until(lambda d: any(c["name"] == "_token" for c in d.get_cookies()))

    # Inside the Airflow UI: the external view embeds the page in an iframe.
    browser.get(f"{server}/plugin/biomass")
    frame = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe")))
    ARTIFACTS.mkdir(exist_ok=True)
    browser.switch_to.frame(frame)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-rendered") not in (None, ""))
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-rendered") == "4"
    charts = browser.find_elements(By.CSS_SELECTOR, ".chart svg")
    assert len(charts) >= 3
    for svg in charts:
        assert svg.get_attribute("data-points") == "4", svg.find_element(By.XPATH, "..").get_attribute("data-metric")
    tail = browser.find_element(By.CSS_SELECTOR, ".chart[data-metric='tail_coverage']")
    assert len(tail.find_elements(By.CSS_SELECTOR, "circle.point")) == 4
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.generation")
    assert [r.get_attribute("data-year") for r in rows] == ["2021", "2022", "2023", "2024"]
    browser.switch_to.default_content()
    time.sleep(0.5)
    browser.save_screenshot(str(ARTIFACTS / "observatory.png"))
    assert (ARTIFACTS / "observatory.png").stat().st_size > 20_000

"""The review in the Airflow UI, in headless Debian Chromium: the assigned reviewer logs in, opens the pending
review on the task instance's Required Actions tab (where Browse > Required Actions links), reads the body,
writes a comment and presses Approve; the run goes on to publish with that decision in its manifest. A
screenshot of the review as the reviewer saw it is saved under the test's tmp dir (path printed, and copied to
artifacts/).

Needs the whole stack (scheduler, workers, api-server): runs with `make test-integration`, on the session's
stack (its own year, 2026)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.integration.conftest import REVIEWER
from tests.integration.rest import (DAG_ID, ensure_dag_ready, failure_report, start_reviewed_year, wait_for_review,
                                    wait_for_run_end)
from tests.plugins.test_observatory_browser import ARTIFACTS, headless_chrome

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]

YEAR = 2026


@pytest.fixture(scope="module")
def browser():
    driver = headless_chrome(window="1400,1600", page_load_timeout=90)
    yield driver
    driver.quit()


def log_in(browser, stack, user: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 90)
    browser.get(f"{stack.base_url}/auth/login/")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[name='username']"))).send_keys(user)
    browser.find_element(By.CSS_SELECTOR, "input[type='password']").send_keys(stack.passwords[user], Keys.ENTER)
    wait.until(lambda d: any(c["name"] == "_token" for c in d.get_cookies()))


def test_the_assigned_reviewer_approves_in_the_airflow_ui_and_the_year_publishes(stack, api, browser, tmp_path):
    import airflow_client.client as af
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    ensure_dag_ready(af, api, stack)
    run_id = start_reviewed_year(af, api, YEAR)
    wait_for_review(af, api, stack, run_id)

    log_in(browser, stack, REVIEWER)
    wait = WebDriverWait(browser, 90)
    # The page Browse > Required Actions links each pending request to.
    browser.get(f"{stack.base_url}/dags/{DAG_ID}/runs/{run_id}/tasks/review/required_actions")
    approve = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid='hitl-option-Approve']")))
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid='hitl-option-Reject']").is_enabled()
    page = browser.find_element(By.TAG_NAME, "body").text
    assert f"Generation {YEAR}" in page and "Review sample" in page, page[:2000]
    comment = "read in the browser: fine to publish"
    field = browser.find_element(By.ID, "element_comment")
    field.clear()
    field.send_keys(comment)
    time.sleep(0.5)
    shot = tmp_path / "review-required-action.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / shot.name)
    print(f"\nscreenshot of the review in the Airflow UI: {shot} (copied to {ARTIFACTS / shot.name})")
    approve.click()

    run = wait_for_run_end(af, api, stack, run_id)
    assert run.state == "success", failure_report(af, api, [run])
    detail = af.TaskInstanceApi(api).get_hitl_detail(DAG_ID, run_id, "review", -1)
    assert detail.response_received and detail.responded_by_user.id == REVIEWER
    assert detail.chosen_options == ["Approve"]
    manifest = json.loads((stack.data_root / "generations" / str(YEAR) / "manifest.json").read_text())
    review = manifest["review"]
    assert (review["decision"], review["by"], review["comment"], review["excluded"]) == (
        "approve", REVIEWER, comment, [])
    assert f"approved by {REVIEWER}" in run.note

"""The dashboard in a real browser (Debian's Chromium through Playwright) against a live
server with a real worker, in the embedded and the cluster mode."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests

from batchsvc.services.auth import create_api_key

pytestmark = pytest.mark.conformance


@pytest.fixture(params=["embedded", "cluster"], scope="module")
def stack(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_stack")


@pytest.fixture()
def page(browser: Any, stack: Any) -> Any:
    """A fresh browser context (no cookies) at 1280 px."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=stack.url)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def shoot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def sign_in(page: Any, key: str) -> None:
    """Keyboard only: the key field has focus on arrival, Enter submits."""
    page.goto("/")
    page.wait_for_url(re.compile(r"/ui/login"))
    assert page.evaluate("document.activeElement.id") == "api_key"
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/batches$"))


def test_wrong_key_is_refused_and_nothing_shows(page: Any, stack: Any, shots: Path) -> None:
    page.goto("/ui/batches")
    page.wait_for_url(re.compile(r"/ui/login"))
    page.fill("#api_key", "llx-not-a-real-key")
    page.click("button[type=submit]")
    alert = page.locator("#signin-error")
    assert "not valid" in alert.inner_text()
    shoot(page, shots, f"{stack.settings.namespace}login-refused")
    assert page.goto("/ui/batches").url.endswith("/ui/login?next=/ui/batches")


def test_sign_in_list_and_sign_out(page: Any, stack: Any, shots: Path) -> None:
    client = stack.sdk()
    directory = client.beta.directories.create(name="listed")
    job = client.beta.batch.create(job_config={"parameters": {"max_pages": 1}},
                                   directory_id=directory.id)
    sign_in(page, stack.key)
    cookie = next(c for c in page.context.cookies() if c["name"] == "batchsvc_ui")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/ui"
    row = page.locator(f'tr[data-job-id="{job.id}"]')
    assert "parse" in row.inner_text()
    shoot(page, shots, f"{stack.settings.namespace}batches")
    page.select_option("select[name=job_type]", "classify")
    page.click("form.filters button")
    assert page.locator(f'tr[data-job-id="{job.id}"]').count() == 0
    page.select_option("select[name=job_type]", "parse")
    page.click("form.filters button")
    assert page.locator(f'tr[data-job-id="{job.id}"]').count() == 1

    # A form posted without the session's CSRF token is refused, and changes nothing.
    refused = page.request.post(f"/ui/batches/{job.id}/cancel", form={"reason": "forged"})
    assert refused.status == 400 and "csrf_token" in refused.text()
    assert client.beta.batch.get_status(job.id).job.error_message != "cancelled: forged"

    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/ui/login$"))
    assert page.goto("/ui/batches").url.endswith("/ui/login?next=/ui/batches")


def test_another_projects_batch_is_not_found(page: Any, stack: Any, shots: Path) -> None:
    with stack.session() as db:
        other_key = create_api_key(db, "someone-else")
    theirs = requests.post(f"{stack.url}/api/v1/beta/directories", json={"name": "theirs"},
                           headers=stack.headers(other_key), timeout=30).json()
    job = requests.post(f"{stack.url}/api/v1/beta/batch-processing", json={
        "directory_id": theirs["id"], "job_config": {"parameters": {}}},
        headers=stack.headers(other_key), timeout=30).json()
    sign_in(page, stack.key)
    assert page.locator(f'tr[data-job-id="{job["id"]}"]').count() == 0
    for path in (f"/ui/batches/{job['id']}", f"/ui/batches/{job['id']}/events",
                 f"/ui/batches/{job['id']}/results", f"/ui/directories/{theirs['id']}"):
        response = page.goto(path)
        assert response.status == 404, path
    assert "not found" in page.inner_text("main")
    shoot(page, shots, f"{stack.settings.namespace}not-found")

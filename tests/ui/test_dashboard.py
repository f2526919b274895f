"""The dashboard in a real browser (Debian's Chromium through Playwright) against a live
server with a real worker, in the embedded and the cluster mode."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from batchsvc.services.auth import create_api_key
from tests.harness import CORPUS

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


def stack_url(page: Any) -> str:
    return page.url.split("/ui/", 1)[0]


def sign_in(page: Any, key: str) -> None:
    """Keyboard only: the key field has focus on arrival, Enter submits."""
    page.goto("/")
    page.wait_for_url(re.compile(r"/ui/login"))
    assert page.evaluate("document.activeElement.id") == "api_key"
    page.keyboard.type(key)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{stack_url(page)}/ui/batches", page.url


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


# Records every text the status badge shows, across the page's reload at the end, so a test
# can tell the badge was changed by the events stream and not only by the reload.
WATCH_STATUS = """
document.addEventListener("DOMContentLoaded", () => {
  const badge = document.getElementById("job-status");
  if (!badge) return;
  new MutationObserver(() => {
    const seen = JSON.parse(sessionStorage.getItem("seen") || "[]");
    seen.push(badge.textContent);
    sessionStorage.setItem("seen", JSON.stringify(seen));
  }).observe(badge, {childList: true, characterData: true, subtree: true});
});
"""


def api_directory(stack: Any, name: str, files: list[tuple[str, bytes]]) -> str:
    client = stack.sdk()
    directory = client.beta.directories.create(name=name)
    for file_name, data in files:
        client.beta.directories.files.upload(directory.id, upload_file=(file_name, data))
    return directory.id


def start_parse(page: Any, directory_id: str, **options: str | bool) -> str:
    """Fill the directory page's parse form; return the new batch's id from its page."""
    page.goto(f"/ui/directories/{directory_id}")
    form = page.locator("#parse-form")
    for name, value in options.items():
        if value is True:
            form.locator(f"input[name={name}]").check()
        else:
            form.locator(f"input[name={name}]").fill(str(value))
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/ui/batches/bjb-[0-9a-f-]+$"))
    return page.url.rsplit("/", 1)[1]


def wait_ended(page: Any, status: str, timeout: float = 240_000) -> None:
    """Until the server renders the batch as ended (after the script's reload on ``end``)."""
    page.wait_for_function(
        """(want) => { const s = document.getElementById("summary");
                       return s && !s.dataset.events &&
                              document.getElementById("job-status").textContent === want; }""",
        arg=status, timeout=timeout)


def counts(page: Any) -> dict[str, int]:
    return {name: int(page.inner_text(f"#count-{name}"))
            for name in ("total", "processed", "failed", "skipped", "cancelled")}


def test_batch_page_follows_progress_live(page: Any, stack: Any, shots: Path) -> None:
    # A scanned PDF (OCR, seconds per page) keeps the batch running while the page watches.
    files = [(name, (CORPUS / name).read_bytes())
             for name in ("nemotron_multipage.pdf", "pdflatex-4-pages.pdf")]
    directory_id = api_directory(stack, "live", files)
    sign_in(page, stack.key)
    page.add_init_script(WATCH_STATUS)
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if r.url.endswith("/events") else None)
    job_id = start_parse(page, directory_id, max_pages="2")
    shoot(page, shots, f"{stack.settings.namespace}batch-running")
    wait_ended(page, "completed")
    seen = page.evaluate("JSON.parse(sessionStorage.getItem('seen') || '[]')")
    assert "completed" in seen, seen  # set by the stream's events before the reload
    assert streams == [f"{stack.url}/ui/batches/{job_id}/events"]
    assert counts(page) == {"total": 2, "processed": 2, "failed": 0, "skipped": 0,
                            "cancelled": 0}
    assert page.inner_text("#job-progress-label") == "100 %"
    rows = page.locator("#item-table tbody tr")
    assert rows.count() == 2 and all("completed" in t for t in rows.all_inner_texts())
    assert page.locator("#cancel-form").count() == 0 and page.locator("#retry-form").count() == 0
    shoot(page, shots, f"{stack.settings.namespace}batch")

    with page.expect_download() as download:
        page.click("text=JSON lines")
    lines = Path(download.value.path()).read_text().splitlines()
    exported = [json.loads(line) for line in lines]
    assert sorted(e["item_name"] for e in exported) == sorted(n for n, _ in files)
    assert all(e["status"] == "completed" and e["result"]["pages"] for e in exported)

    page.select_option("#items select[name=status]", "failed")
    page.click("#items button")
    assert page.locator("#item-table").count() == 0 and "No items" in page.inner_text("#items")


def test_cancel_a_running_batch(page: Any, stack: Any, shots: Path) -> None:
    data = (CORPUS / "pdflatex-4-pages.pdf").read_bytes()
    # Forty items (the cache bypassed, so each is parsed) outlast the click on Cancel.
    directory_id = api_directory(stack, "to-cancel", [(f"copy-{n:02}.pdf", data)
                                                      for n in range(40)])
    sign_in(page, stack.key)
    job_id = start_parse(page, directory_id, invalidate_cache=True)
    page.fill("#cancel-form input[name=reason]", "changed my mind")
    page.click("#cancel-form button")
    page.wait_for_url(re.compile(rf"/ui/batches/{job_id}$"))
    assert page.inner_text("#job-status") == "cancelled"
    wait_ended(page, "cancelled")
    seen = counts(page)
    assert seen["cancelled"] > 0 and seen["processed"] < 40, seen
    assert page.inner_text("#job-error") == "cancelled: changed my mind"
    status = stack.sdk().beta.batch.get_status(job_id).job
    assert status.status == "cancelled" and status.processed_items == seen["processed"]
    shoot(page, shots, f"{stack.settings.namespace}batch-cancelled")


def test_retry_the_failed_item(page: Any, stack: Any, shots: Path) -> None:
    corrupt = b"%PDF-1.7\n" + random.Random(7).randbytes(20_000)
    directory_id = api_directory(stack, "with-broken", [
        ("scan-broken.pdf", corrupt),
        ("minimal-document.pdf", (CORPUS / "minimal-document.pdf").read_bytes())])
    sign_in(page, stack.key)
    job_id = start_parse(page, directory_id)
    wait_ended(page, "completed")
    assert counts(page)["failed"] == 1
    broken = page.locator("#item-table tr", has_text="scan-broken.pdf")
    assert "failed" in broken.inner_text() and broken.locator(".reason").inner_text()
    page.click("#retry-form button")
    page.wait_for_url(re.compile(r"/ui/batches/bjb-[0-9a-f-]+$"))
    retry_id = page.url.rsplit("/", 1)[1]
    assert retry_id != job_id
    assert page.locator(f'#summary a[href="/ui/batches/{job_id}"]').inner_text() == job_id
    wait_ended(page, "failed")
    assert counts(page) == {"total": 1, "processed": 0, "failed": 1, "skipped": 0,
                            "cancelled": 0}
    row = page.locator("#item-table tbody tr")
    assert "scan-broken.pdf" in row.inner_text() and row.locator(".reason").inner_text()
    shoot(page, shots, f"{stack.settings.namespace}batch-retried")

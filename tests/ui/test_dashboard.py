"""The dashboard in a real browser (Debian's Chromium through Playwright) against a live
server with a real worker, in the embedded and the cluster mode."""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests

from batchsvc.services.auth import create_api_key
from tests.conformance.sdk_flow import wait_job
from tests.harness import CORPUS, wait_for
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.ui


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


# What a screen reader and a keyboard need of every page: its language, one main heading,
# a label for every control, a text for every image.
UNLABELLED = """() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("no lang");
  if (document.querySelectorAll("h1").length !== 1) problems.push("not one h1");
  for (const el of document.querySelectorAll("input, select, textarea, progress")) {
    if (el.type === "hidden") continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
      problems.push("unlabelled " + el.outerHTML.slice(0, 80));
  }
  for (const img of document.querySelectorAll("img"))
    if (!img.alt) problems.push("no alt " + img.outerHTML.slice(0, 80));
  return problems;
}"""

README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"


def shoot(page: Any, shots: Path, name: str) -> None:
    """A screenshot of the page, after checking it is usable without seeing or a mouse."""
    assert page.evaluate(UNLABELLED) == [], name
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def follow(page: Any, target: Any) -> None:
    """Click a link or button and wait for the page it loads (a click returns before that)."""
    with page.expect_navigation():
        (page.locator(target) if isinstance(target, str) else target).click()


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
    follow(page, "button[type=submit]")
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
    follow(page, "form.filters button")
    assert page.locator(f'tr[data-job-id="{job.id}"]').count() == 0
    page.select_option("select[name=job_type]", "parse")
    follow(page, "form.filters button")
    assert page.locator(f'tr[data-job-id="{job.id}"]').count() == 1

    # A form posted without the session's CSRF token is refused, and changes nothing.
    refused = page.request.post(f"/ui/batches/{job.id}/cancel", form={"reason": "forged"})
    assert refused.status == 400 and "csrf_token" in refused.text()
    assert client.beta.batch.get_status(job.id).job.error_message != "cancelled: forged"

    follow(page, "text=Sign out")
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
    follow(page, form.locator("button[type=submit]"))
    page.wait_for_url(re.compile(r"/ui/batches/bjb-[0-9a-f-]+$"))
    page.wait_for_load_state()  # the page's script has run (and opened its stream)
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
    # The tab goes to the background (its stream is let go) and comes back (a new one).
    for hidden in ("true", "false"):
        page.evaluate(f"""() => {{
            Object.defineProperty(document, "hidden", {{configurable: true, get: () => {hidden}}});
            document.dispatchEvent(new Event("visibilitychange")); }}""")
    wait_ended(page, "completed")
    seen = page.evaluate("JSON.parse(sessionStorage.getItem('seen') || '[]')")
    assert "completed" in seen, seen  # set by the stream's events before the reload
    assert streams == [f"{stack.url}/ui/batches/{job_id}/events"] * 2
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
    with page.expect_download() as download:
        page.click("text=zip")
    with zipfile.ZipFile(download.value.path()) as archive:
        assert sorted(archive.namelist()) == sorted(
            [f"{n}.md" for n, _ in files] + ["manifest.jsonl"])

    page.select_option("#items select[name=status]", "failed")
    follow(page, "#items button")
    assert page.locator("#item-table").count() == 0 and "No items" in page.inner_text("#items")


def test_cancel_a_running_batch(page: Any, stack: Any, shots: Path) -> None:
    data = (CORPUS / "pdflatex-4-pages.pdf").read_bytes()
    # Forty items (the cache bypassed, so each is parsed) outlast the click on Cancel.
    directory_id = api_directory(stack, "to-cancel", [(f"copy-{n:02}.pdf", data)
                                                      for n in range(40)])
    sign_in(page, stack.key)
    job_id = start_parse(page, directory_id, invalidate_cache=True)
    # From the keyboard: the reason field, then Enter submits the form.
    page.focus("#cancel-form input[name=reason]")
    page.keyboard.type("changed my mind")
    with page.expect_navigation():
        page.keyboard.press("Enter")
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
    shoot(page, shots, f"{stack.settings.namespace}batch-with-a-failure")
    # README's picture of the batch page: written by this test, never committed.
    shown = README_SHOT.with_suffix(f".{stack.settings.namespace}tmp")
    shutil.copyfile(shots / f"{stack.settings.namespace}batch-with-a-failure.png", shown)
    os.replace(shown, README_SHOT)
    follow(page, broken.locator("a"))
    assert "corrupt" in page.inner_text("#item-error")
    shoot(page, shots, f"{stack.settings.namespace}item-failed")
    page.go_back()
    follow(page, "#retry-form button")
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


def test_webhook_deliveries_and_redeliver(page: Any, stack: Any) -> None:
    receiver = Receiver()
    try:
        client = stack.sdk()
        directory_id = api_directory(stack, "hooked", [
            ("minimal-document.pdf", (CORPUS / "minimal-document.pdf").read_bytes())])
        job = client.beta.batch.create(directory_id=directory_id, job_config={
            "webhook_url": receiver.url("/ui-hook"), "parameters": {"max_pages": 1}})

        def pending_events() -> list[Any]:
            return [r for r in receiver.at("/ui-hook")
                    if r.payload()["event_type"] == "parse.pending"]

        wait_for(pending_events, message="the pending event delivered")
        wait_job(client, job.id)
        sign_in(page, stack.key)
        page.goto(f"/ui/batches/{job.id}#webhooks")
        rows = page.locator("#webhooks tbody tr")
        first = rows.nth(0)
        assert "parse.pending" in first.inner_text()
        assert receiver.url("/ui-hook") in first.inner_text()
        assert "delivered" in first.inner_text() and "200" in first.inner_text()
        before = rows.count()
        follow(page, first.locator("button", has_text="Redeliver"))
        page.wait_for_url(re.compile(rf"/ui/batches/{job.id}#webhooks$"))
        assert rows.count() == before + 1
        assert "parse.pending" in rows.nth(before).inner_text()
        wait_for(lambda: len(pending_events()) == 2, message="the redelivery")
        once, again = pending_events()
        assert once.headers["webhook-id"] == again.headers["webhook-id"]
    finally:
        receiver.stop()


DROP_FILES = """(files) => {
  const transfer = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], f.name, {type: f.type}));
  }
  return transfer;
}"""


def drop(page: Any, names: list[str]) -> None:
    """Drop corpus files on the drop zone, as a user dragging them from a file manager."""
    files = [{"name": name, "type": "application/octet-stream",
              "data": base64.b64encode((CORPUS / name).read_bytes()).decode()}
             for name in names]
    transfer = page.evaluate_handle(DROP_FILES, files)
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})


def test_upload_parse_and_read_a_result(page: Any, stack: Any, shots: Path) -> None:
    sign_in(page, stack.key)
    follow(page, "nav >> text=Directories")
    page.fill("#new-directory input[name=name]", "dropped")
    follow(page, "#new-directory button")
    page.wait_for_url(re.compile(r"/ui/directories/[0-9a-f-]+$"))
    directory_id = page.url.rsplit("/", 1)[1]
    drop(page, ["pdflatex-4-pages.pdf", "word_sample.docx"])
    page.wait_for_function(
        "() => document.querySelectorAll('#upload-list li[data-state=done]').length === 2")
    assert page.locator("#upload-list progress").evaluate_all(
        "bars => bars.map(b => b.value)") == [100, 100]
    shoot(page, shots, f"{stack.settings.namespace}directory-uploaded")
    page.reload()
    assert sorted(page.locator("#files tbody td[data-label=Name]").all_inner_texts()) == [
        "pdflatex-4-pages.pdf", "word_sample.docx"]
    page.goto("/ui/directories")
    assert "dropped" in page.inner_text("#directories")
    shoot(page, shots, f"{stack.settings.namespace}directories")

    start_parse(page, directory_id, max_pages="2")
    wait_ended(page, "completed")
    follow(page, "#item-table >> text=pdflatex-4-pages.pdf")
    page.wait_for_url(re.compile(r"/items/[0-9a-f-]+$"))
    pages = page.locator("section.page")
    assert pages.count() == 2  # max_pages
    first = pages.nth(0)
    assert first.locator(".markdown p").count() > 0 and first.locator(".markdown").inner_text()
    image = first.locator("img")
    image.scroll_into_view_if_needed()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                           arg=image.element_handle())
    first.locator("summary", has_text="Text").click()
    assert first.locator("pre").first.inner_text().strip()
    first.locator("summary", has_text="Items and tables").click()
    assert '"type"' in first.locator("pre").nth(1).inner_text()
    page.click("summary >> text=Document metadata")
    assert "pdf" in page.locator("details tr", has_text="detected_type").inner_text()
    shoot(page, shots, f"{stack.settings.namespace}item")

    page.go_back()
    follow(page, "#item-table >> text=word_sample.docx")
    assert page.locator("section.page .markdown").first.inner_text().strip()
    assert page.locator("section.page img").count() == 0  # nothing to draw for a docx

    # The same batch page on a phone: everything fits the width.
    phone = page.context.browser.new_context(viewport={"width": 390, "height": 844},
                                             base_url=stack.url, is_mobile=True)
    try:
        small = phone.new_page()
        sign_in(small, stack.key)
        small.goto(f"/ui/batches/{page.url.split('/')[-3]}")
        assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shoot(small, shots, f"{stack.settings.namespace}batch-phone")
    finally:
        phone.close()


def test_classify_batch_from_typed_rules(page: Any, stack: Any, shots: Path) -> None:
    directory_id = api_directory(stack, "to-classify", [
        (name, (CORPUS / name).read_bytes())
        for name in ("markitdown_REPAIR-2022-INV-001_multipage.pdf", "pdflatex-4-pages.pdf")])
    sign_in(page, stack.key)
    page.goto(f"/ui/directories/{directory_id}")
    page.fill("#rules", "invoice: A bill from a supplier listing amounts due and a total\n"
                        "paper: A scientific article with sections, equations and references")
    follow(page, "#classify-form button")
    page.wait_for_url(re.compile(r"/ui/batches/bjb-[0-9a-f-]+$"))
    wait_ended(page, "completed")
    follow(page, "#item-table >> text=markitdown_REPAIR-2022-INV-001_multipage.pdf")
    assert page.inner_text("#class-type") == "invoice"
    assert 0 < float(page.inner_text("#class-confidence")) <= 1
    assert page.inner_text("#class-reasoning").strip()
    shoot(page, shots, f"{stack.settings.namespace}item-classified")


def test_rules_that_do_not_parse_name_the_line(page: Any, stack: Any) -> None:
    directory_id = api_directory(stack, "bad-rules", [])
    sign_in(page, stack.key)
    page.goto(f"/ui/directories/{directory_id}")
    page.fill("#rules", "invoice: A bill\njust some words")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#classify-form button")
    assert answer.value.status == 422
    assert "body.rules.2" in page.inner_text("[role=alert]")


def test_markup_in_a_document_stays_text(page: Any, stack: Any) -> None:
    planted = b'# Notes\n\n<img id="planted" src="x" onerror="window.pwned = 1"> and <b>bold</b>\n'
    directory_id = api_directory(stack, "markup", [("notes.md", planted)])
    sign_in(page, stack.key)
    start_parse(page, directory_id)
    wait_ended(page, "completed")
    follow(page, "#item-table >> text=notes.md")
    assert page.locator("#planted").count() == 0 and page.locator(".markdown b").count() == 0
    assert page.evaluate("window.pwned === undefined")
    assert "onerror" in page.inner_text(".markdown")


def test_a_long_result_is_shown_ten_pages_at_a_time(page: Any, stack: Any) -> None:
    directory_id = api_directory(stack, "long", [
        ("GeoTopo-komprimiert.pdf", (CORPUS / "GeoTopo-komprimiert.pdf").read_bytes())])
    sign_in(page, stack.key)
    start_parse(page, directory_id, target_pages="0-11")
    wait_ended(page, "completed")
    follow(page, "#item-table >> text=GeoTopo-komprimiert.pdf")
    headings = page.locator("section.page > h2")
    assert headings.all_inner_texts() == [f"Page {n}" for n in range(1, 11)]
    assert "1–10 of 12" in page.inner_text(".pager")
    follow(page, page.locator(".pager a[rel=next]").first)
    assert headings.all_inner_texts() == ["Page 11", "Page 12"]
    assert page.locator("section.page img").count() == 2

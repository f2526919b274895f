"""One-file parse (``client.parsing``) through the official llama-cloud SDK, in both modes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from llama_cloud import APIStatusError

from batchsvc.engines.parse import parse_document
from batchsvc.services.parse_options import to_parameters
from tests.conformance.sdk_flow import read_bytes, upload_directory, wait_job
from tests.harness import CORPUS, wait_for
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.conformance
DOC = "pdflatex-4-pages.pdf"
CONTENT = ["text_content_metadata", "markdown_content_metadata", "items_content_metadata",
           "metadata_content_metadata", "xlsx_content_metadata"]


@pytest.fixture(params=["embedded", "cluster"])
def stack(request: pytest.FixtureRequest):
    return request.getfixturevalue(f"{request.param}_stack")


def _engine_texts(name: str, request: dict) -> list[str]:
    """The engine's own answer for the same file and options, without the service."""
    params, _ = to_parameters({"tier": "fast", **request})
    return [p.text for p in parse_document(read_bytes(name), name, params).pages]


def test_parse_upload_end_to_end(stack) -> None:
    client = stack.sdk()
    options = {"page_ranges": {"target_pages": "1,3"},
               "output_options": {"granular_bboxes": ["word"],
                                  "markdown": {"tables": {"output_tables_as_markdown": False}}},
               "crop_box": {"top": 0.1},
               "processing_options": {"ignore": {"ignore_diagonal_text": True}}}
    with open(CORPUS / DOC, "rb") as fh:
        result = client.parsing.parse(
            tier="fast", version="latest", upload_file=(DOC, fh), polling_interval=0.3,
            expand=["text", "markdown", "items", "metadata", "job_metadata", "markdown_full",
                    "text_full", "forms", *CONTENT], **options)
    assert result.job.status == "COMPLETED" and result.job.tier == "fast"
    assert result.job.name == DOC
    assert [p.page_number for p in result.text.pages] == [1, 3]
    assert [p.text for p in result.text.pages] == _engine_texts(DOC, options)
    assert [p.page_number for p in result.items.pages] == [1, 3]
    assert result.markdown_full.count("---") >= 1 and result.text_full
    assert [(p.page_number, p.success) for p in result.forms.pages] == [(1, False), (3, False)]
    skipped = {o["option"] for o in result.job_metadata["options_not_applied"]}
    assert {"crop_box", "output_options.granular_bboxes"} <= skipped
    assert "page_ranges.target_pages" not in skipped
    files = result.result_content_metadata
    assert set(files) == {"text", "markdown", "items", "metadata", "xlsx"}
    assert files["xlsx"].exists is False and files["xlsx"].presigned_url is None
    # The links open without the API key and serve exactly what the sizes say.
    markdown = httpx.get(files["markdown"].presigned_url, timeout=30)
    assert markdown.status_code == 200 and markdown.text == result.markdown_full
    assert len(markdown.content) == files["markdown"].size_bytes
    items = httpx.get(files["items"].presigned_url, timeout=30).json()
    assert [p["page_number"] for p in items["pages"]] == [1, 3]
    tampered = files["text"].presigned_url.replace("/content/text", "/content/markdown")
    assert httpx.get(tampered, timeout=30).status_code == 403


def test_file_id_tiers_list_and_batch_items(stack) -> None:
    client = stack.sdk()
    started = datetime.now(UTC) - timedelta(seconds=1)
    with open(CORPUS / "minimal-document.pdf", "rb") as fh:
        stored = client.files.create(file=("minimal-document.pdf", fh), purpose="parse")
    receiver = Receiver()
    hook = {"webhook_url": receiver.url("/v2"), "webhook_events": ["parse.success"]}
    job = client.parsing.create(tier="agentic", version="latest", file_id=stored.id,
                                user_metadata={"team": "ops"}, webhook_configurations=[hook],
                                agentic_options={"custom_prompt": "keep tables"})
    assert job.status in ("PENDING", "RUNNING") and job.tier == "agentic"
    done = client.parsing.wait_for_completion(job.id, polling_interval=0.3, timeout=120)
    assert done.status == "COMPLETED"
    got = client.parsing.get(job.id, expand=["job_metadata", "text"])
    # The batch webhooks: one parse.success for the job the parse job rides in.
    (event,) = wait_for(lambda: receiver.at("/v2"), timeout=60, message="the webhook")
    receiver.stop()
    assert event.payload()["event_type"] == "parse.success"
    assert event.payload()["data"]["job_id"] == got.job_metadata["batch_job_id"]
    assert event.payload()["data"]["parse_job_id"] == job.id
    assert got.job.user_metadata == {"team": "ops"} and got.job.tier == "agentic"
    # No provider at the shipped defaults: the fast engine ran, and the result says so.
    assert got.job_metadata["tier"]["used"] == "fast"
    assert "no LLM provider" in got.job_metadata["tier"]["reason"]
    assert got.text.pages[0].text == _engine_texts("minimal-document.pdf", {})[0]

    # The same file and options again: the dedup cache answers, through the same get.
    again = client.parsing.create(tier="agentic", version="latest", file_id=stored.id,
                                  user_metadata={"team": "ops"},
                                  agentic_options={"custom_prompt": "keep tables"})
    client.parsing.wait_for_completion(again.id, polling_interval=0.3, timeout=120)
    assert client.parsing.get(again.id, expand=["text"]).text == got.text

    directory, uploaded = upload_directory(client, "v2-list", ["multi_page.pdf"])
    batch = client.beta.batch.create(job_config={"parameters": {"max_pages": 1}},
                                     item_ids=[uploaded[0].id])
    wait_job(client, batch.id)
    (item,) = client.beta.batch.job_items.list(batch.id)
    listed = list(client.parsing.list(page_size=1, created_at_on_or_after=started))
    ids = [j.id for j in listed]
    assert {job.id, again.id, item.job_id} <= set(ids) and len(ids) == len(set(ids))
    assert ids.index(item.job_id) < ids.index(job.id)  # newest first
    completed = {j.id for j in client.parsing.list(status="COMPLETED", job_ids=ids)}
    assert completed == set(ids)
    assert not list(client.parsing.list(status="FAILED", created_at_on_or_after=started))
    future = datetime.now(UTC) + timedelta(hours=1)
    assert not list(client.parsing.list(created_at_on_or_after=future))
    assert client.parsing.get(item.job_id, expand=["text"]).text.pages


def test_failed_document_and_bad_input(stack) -> None:
    client = stack.sdk()
    broken = client.files.create(file=("broken.pdf", b"%PDF-1.4 not really"), purpose="parse")
    job = client.parsing.create(tier="fast", version="latest", file_id=broken.id)
    deadline = time.time() + 120
    while (status := client.parsing.get(job.id).job).status not in ("COMPLETED", "FAILED"):
        assert time.time() < deadline
        time.sleep(0.3)
    assert status.status == "FAILED" and status.error_message
    cases = [
        ({"tier": "fast", "version": "latest"}, "file_id"),
        ({"tier": "quick", "version": "latest", "file_id": broken.id}, "tier"),
        ({"tier": "fast", "version": "latest", "file_id": "nope"}, "file_id"),
        ({"tier": "fast", "version": "latest", "file_id": broken.id,
          "page_ranges": {"target_pages": "0-2"}}, "target_pages"),
    ]
    for kwargs, field in cases:
        with pytest.raises(APIStatusError) as bad:
            client.parsing.create(**kwargs)
        assert bad.value.status_code == 422 and field in str(bad.value.body), kwargs
    with pytest.raises(APIStatusError) as missing:
        client.parsing.get("00000000-0000-0000-0000-000000000000")
    assert missing.value.status_code == 404
    # Another project sees none of it: not the job, not the file, not the list.
    from batchsvc.services.auth import create_api_key

    with stack.session() as session:
        other = stack.sdk(create_api_key(session, f"other-{job.id[:8]}"))
    with pytest.raises(APIStatusError) as hidden:
        other.parsing.get(job.id)
    assert hidden.value.status_code == 404
    assert job.id not in {j.id for j in other.parsing.list()}
    with pytest.raises(APIStatusError) as foreign:
        other.parsing.create(tier="fast", version="latest", file_id=broken.id)
    assert foreign.value.status_code == 422 and "file_id" in str(foreign.value.body)


def test_images_saved_listed_filtered_and_downloadable(stack) -> None:
    from io import BytesIO

    from PIL import Image

    client = stack.sdk()
    wanted = {"output_options": {"images_to_save": ["screenshot", "embedded"]}}
    # A good figure, a corrupt one and one of 900 megapixels: only the good one is kept.
    hostile = client.parsing.parse(tier="fast", version="latest", polling_interval=0.3,
                                   upload_file=("figures.pdf", _figures_pdf()),
                                   expand=["images_content_metadata", "job_metadata",
                                           "markdown"], **wanted)
    assert hostile.job.status == "COMPLETED" and hostile.markdown.pages[0].markdown
    shown = hostile.images_content_metadata
    assert [(i.filename, i.category, i.index) for i in shown.images] == [
        ("page_1.jpg", "screenshot", 0), ("img_p0_1.png", "embedded", 1)]
    assert shown.total_count == 2
    warnings = " ".join(hostile.job_metadata["warnings"])
    assert "img_p0_2.png" in warnings and "img_p0_3.png" in warnings
    figure = shown.images[1]
    assert (figure.bbox.x, figure.bbox.y, figure.bbox.w, figure.bbox.h) == (72, 192, 200, 100)
    png = httpx.get(figure.presigned_url, timeout=30)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert Image.open(BytesIO(png.content)).size == (40, 20)

    name = "pdffill-demo.pdf"
    params, _ = to_parameters({"tier": "fast", "page_ranges": {"max_pages": 1}, **wanted})
    own = {im.name: im.data for im in parse_document(
        read_bytes(name), name, params, keep_images=True).images}
    with open(CORPUS / name, "rb") as fh:
        job = client.parsing.create(tier="fast", version="latest", upload_file=(name, fh),
                                    page_ranges={"max_pages": 1}, **wanted)
    client.parsing.wait_for_completion(job.id, polling_interval=0.3, timeout=120)
    listed = client.parsing.get(job.id, expand=["images_content_metadata"])
    names = [i.filename for i in listed.images_content_metadata.images]
    assert names == list(own) and len(names) > 2
    for image in listed.images_content_metadata.images:
        assert httpx.get(image.presigned_url, timeout=30).content == own[image.filename]
    some = client.parsing.get(job.id, expand=["images_content_metadata"],
                              image_filenames=f"{names[1]},{names[2]}")
    assert [i.filename for i in some.images_content_metadata.images] == names[1:3]
    # Without images_to_save there are none, and nothing is reported missing.
    plain = client.parsing.parse(tier="fast", version="latest", polling_interval=0.3,
                                 upload_file=(name, read_bytes(name)),
                                 page_ranges={"max_pages": 1},
                                 expand=["images_content_metadata", "job_metadata"])
    assert plain.images_content_metadata.total_count == 0
    assert not plain.job_metadata["options_not_applied"]


def _figures_pdf() -> bytes:
    import zlib

    from tests.unit.engines.pdfgen import Image, PageSpec, Text, build_pdf

    pixels = bytes(v for y in range(20) for x in range(40) for v in (x * 6, y * 12, 90))
    good = Image(72, 500, 200, 100, 40, 20, pixels)
    corrupt = Image(72, 300, 200, 100, 40, 20, b"not a jpeg at all", "DCTDecode")
    huge = Image(300, 300, 200, 100, 30000, 30000, zlib.compress(b"\0" * 1000), "FlateDecode")
    return build_pdf([PageSpec(texts=[Text(72, 700, "Figures follow.", 11)],
                               images=[good, corrupt, huge])])


@pytest.fixture(scope="module")
def documents():
    from tests.document_server import DocumentServer

    server = DocumentServer(CORPUS)
    yield server
    server.stop()


def test_source_url_and_batch_input_url(stack, documents) -> None:
    client = stack.sdk()
    # Through a redirect to the loopback server (private networks allowed in tests).
    result = client.parsing.parse(tier="fast", version="latest", polling_interval=0.3,
                                  source_url=f"{documents.url}/to/docs/{DOC}",
                                  expand=["text", "job_metadata"])
    assert result.job.status == "COMPLETED" and result.job.name == DOC
    assert [p.text for p in result.text.pages] == _engine_texts(DOC, {})
    refused = client.parsing.create(tier="fast", version="latest",
                                    source_url=f"{documents.url}/away")
    missing = client.parsing.create(tier="fast", version="latest",
                                    source_url=f"{documents.url}/docs/none.pdf")
    for job, reason in ((refused, "169.254.169.254 is a cloud metadata address"),
                        (missing, "HTTP 404")):
        deadline = time.time() + 120
        while (status := client.parsing.get(job.id).job).status != "FAILED":
            assert status.status in ("PENDING", "RUNNING") and time.time() < deadline
            time.sleep(0.3)
        assert reason in status.error_message and "input_url" in status.error_message
    with pytest.raises(APIStatusError) as bad:
        client.parsing.create(tier="fast", version="latest", source_url="ftp://x/a.pdf")
    assert bad.value.status_code == 422 and "source_url" in str(bad.value.body)

    # A batch's input_url: the item's document comes from the URL, not from its file.
    _, uploaded = upload_directory(client, "input-url", ["multi_page.pdf"])
    batch = client.beta.batch.create(
        job_config={"parameters": {"input_url": f"{documents.url}/docs/minimal-document.pdf"}},
        item_ids=[uploaded[0].id])
    assert wait_job(client, batch.id).job.processed_items == 1
    (item,) = client.beta.batch.job_items.list(batch.id)
    fetched = client.parsing.get(item.job_id, expand=["text"])
    assert [p.text for p in fetched.text.pages] == _engine_texts("minimal-document.pdf", {})


@pytest.fixture(scope="module")
def llm_stack(tmp_path_factory: pytest.TempPathFactory):
    """An embedded stack whose operator configured an LLM provider (a loopback one)."""
    from tests.conftest import base_settings, running_stack
    from tests.llm_provider import FakeProvider

    with FakeProvider("# Rewritten by the model") as provider:
        settings = base_settings(tmp_path_factory.mktemp("llm"), llm_base_url=provider.url,
                                 llm_model="tiny", llm_api_key="sk-test")
        with running_stack(settings) as stack:
            yield stack, provider


def test_llm_tier_uses_the_operators_provider(llm_stack) -> None:
    stack, provider = llm_stack
    result = stack.sdk().parsing.parse(
        tier="cost_effective", version="latest", polling_interval=0.3,
        upload_file=("m.pdf", read_bytes("minimal-document.pdf")),
        agentic_options={"custom_prompt": "Keep every table"},
        expand=["markdown", "job_metadata"])
    assert result.job.status == "COMPLETED" and result.job.tier == "cost_effective"
    assert [p.markdown for p in result.markdown.pages] == ["# Rewritten by the model"]
    assert result.job_metadata["tier"] == {"requested": "cost_effective", "version": "latest",
                                           "used": "cost_effective"}
    assert any("Keep every table" in json_text for json_text in map(str, provider.seen))

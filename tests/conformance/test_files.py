"""``files`` and directory files through the llama-cloud 2.13.0 SDK: signed ``download_url``s
when ``expand`` asks for them, ``files.query`` with the SDK's filters; both modes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from llama_cloud import APIStatusError

from tests.conformance.sdk_flow import read_bytes

pytestmark = [pytest.mark.conformance,
              pytest.mark.filterwarnings("ignore:Use the GET /files endpoint:DeprecationWarning")]

NAMES = ["minimal-document.pdf", "word_sample.docx", "table_06.html"]


@pytest.fixture(params=["embedded", "cluster"])
def stack(request: pytest.FixtureRequest):
    return request.getfixturevalue(f"{request.param}_stack")


def upload(client: Any, tag: str) -> list[Any]:
    return [client.files.create(file=(f"{tag}-{name}", read_bytes(name)), purpose="parse",
                                external_file_id=f"{tag}/{name}") for name in NAMES]


def fetch_unauthenticated(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30)  # no Authorization header: the link is the credential


def test_download_url_on_files_and_directory_files(stack) -> None:
    client = stack.sdk()
    tag = uuid.uuid4().hex[:8]
    files = upload(client, tag)
    plain = list(client.files.list(file_ids=[f.id for f in files]))
    assert len(plain) == 3 and all(f.download_url is None for f in plain)

    listed = list(client.files.list(file_ids=[f.id for f in files], expand=["download_url"]))
    now = datetime.now(UTC)
    for name, item in zip(NAMES, listed, strict=True):
        assert item.download_url is not None and item.download_url.expires_at > now
        answer = fetch_unauthenticated(item.download_url.url)
        assert answer.status_code == 200 and answer.content == read_bytes(name)
    tampered = listed[0].download_url.url.replace("signature=", "signature=0")
    assert fetch_unauthenticated(tampered).status_code == 403
    later = listed[0].download_url.url.replace("expires=", "expires=9")
    assert fetch_unauthenticated(later).status_code == 403  # the expiry is signed too

    link = client.files.get(files[1].id, expires_at_seconds=60)
    assert 0 < (link.expires_at - now).total_seconds() <= 61
    assert fetch_unauthenticated(link.url).content == read_bytes(NAMES[1])

    directory = client.beta.directories.create(name=f"links-{tag}")
    added = [client.beta.directories.files.add(directory.id, file_id=f.id) for f in files]
    in_dir = list(client.beta.directories.files.list(directory.id, expand=["download_url"]))
    assert [d.id for d in in_dir] == [a.id for a in added]
    assert fetch_unauthenticated(in_dir[2].download_url.url).content == read_bytes(NAMES[2])
    one = client.beta.directories.files.get(added[0].id, directory_id=directory.id,
                                            expand=["download_url"])
    assert fetch_unauthenticated(one.download_url.url).content == read_bytes(NAMES[0])
    assert client.beta.directories.files.get(added[0].id,
                                             directory_id=directory.id).download_url is None

    client.files.delete(files[0].id)
    assert fetch_unauthenticated(listed[0].download_url.url).status_code == 404


def test_query_filters_order_and_pages(stack) -> None:
    client = stack.sdk()
    tag = uuid.uuid4().hex[:8]
    files = upload(client, tag)
    ids = [f.id for f in files]

    by_name = client.files.query(filter={"file_name": f"{tag}-word_sample.docx"})
    assert [f.id for f in by_name.items] == [ids[1]] and by_name.total_size == 1
    by_external = client.files.query(filter={"external_file_id": f"{tag}/table_06.html"})
    assert [f.id for f in by_external.items] == [ids[2]]
    ordered = client.files.query(filter={"file_ids": ids}, order_by="name desc")
    assert [f.name for f in ordered.items] == sorted((f.name for f in files), reverse=True)
    assert client.files.query(filter={"file_ids": ids, "only_manually_uploaded": True}
                              ).total_size == 3
    assert client.files.query(filter={"file_ids": ids, "data_source_id": "ds-1"}).items == []
    assert client.files.query(filter={"file_ids": ids, "project_id": "another"}).items == []

    seen, token = [], None
    while True:
        page = client.files.query(filter={"file_ids": ids}, page_size=2, page_token=token)
        seen += [f.id for f in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == ids  # creation order by default, two pages
    assert [f.id for f in client.files.list(file_ids=ids, order_by="file_size desc")] == [
        f.id for f in sorted(files, key=lambda f: -len(read_bytes(f.name.split("-", 1)[1])))]


def test_bad_input_names_the_field(stack) -> None:
    client = stack.sdk()
    (file, *_) = upload(client, uuid.uuid4().hex[:8])
    directory = client.beta.directories.create(name="bad-input")
    listed = client.beta.directories.files.add(directory.id, file_id=file.id)
    calls = [
        (lambda: list(client.beta.directories.files.list(directory.id, expand=["bytes"])),
         "expand"),
        (lambda: client.beta.directories.files.get(listed.id, directory_id=directory.id,
                                                   expand=["bytes"]), "expand"),
        (lambda: list(client.beta.directories.list(types=["temporary"])), "types"),
        (lambda: list(client.files.list(expand=["everything"])), "expand"),
        (lambda: list(client.files.list(order_by="size sideways")), "order_by"),
        (lambda: client.files.query(order_by="nonsense"), "order_by"),
        (lambda: client.files.query(page_size=0), "page_size"),
        (lambda: client.files.query(filter={"file_ids": "not-a-list"}), "file_ids"),
        (lambda: client.files.get(file.id, expires_at_seconds=0), "expires_at_seconds"),
    ]
    for call, field in calls:
        with pytest.raises(APIStatusError) as error:
            call()
        detail = json.dumps(error.value.body)
        assert error.value.status_code == 422 and field in detail, (field, detail)


def test_directory_type_expiry_and_system_metadata(stack) -> None:
    client = stack.sdk()
    now = datetime.now(UTC)
    ephemeral = client.beta.directories.create(
        name="scratch", type="ephemeral", system_metadata={"origin": "ci", "run": 3})
    user = client.beta.directories.create(name="kept")
    fetched = client.beta.directories.get(ephemeral.id)
    assert fetched.type == "ephemeral" and fetched.system_metadata == {"origin": "ci", "run": 3}
    # The shipped lifetime of an ephemeral directory: a day. (Embedded mode's SQLite gives
    # its timestamps back without an offset; they are UTC.)
    expires = fetched.expires_at.replace(tzinfo=fetched.expires_at.tzinfo or UTC)
    assert abs((expires - now).total_seconds() - 24 * 3600) < 120
    assert user.type == "user" and user.expires_at is None and user.system_metadata is None
    ephemeral_ids = {d.id for d in client.beta.directories.list(type="ephemeral")}
    user_ids = {d.id for d in client.beta.directories.list(types=["user"])}
    assert ephemeral.id in ephemeral_ids and user.id not in ephemeral_ids
    assert user.id in user_ids and ephemeral.id not in user_ids
    for call, field in (
            (lambda: client.beta.directories.create(name="x", type="temporary"), "type"),
            (lambda: list(client.beta.directories.list(type="temporary")), "type"),
            (lambda: client.beta.directories.create(name="x", system_metadata=[1]),
             "system_metadata")):
        with pytest.raises(APIStatusError) as error:
            call()
        assert error.value.status_code == 422 and field in json.dumps(error.value.body)

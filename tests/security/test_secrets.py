"""Secrets in a job config are stored encrypted (or dropped) and never come back: not in any
response, stored config, outbox payload or log line. API keys are stored only as hashes."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from tests.conftest import Stack, use_settings
from tests.harness import free_port

pytestmark = pytest.mark.integration
BETA = "/api/v1/beta"
SECRETS = {name: f"{name}-{uuid.uuid4().hex}" for name in (
    "signing", "header", "azure", "vendor")}


def test_job_config_secrets_are_encrypted_and_never_returned(stack: Stack) -> None:
    def get(path: str) -> requests.Response:
        return requests.get(stack.url + path, headers=stack.headers(), timeout=30)

    def post(path: str, **kw: Any) -> requests.Response:
        return requests.post(stack.url + path, headers=stack.headers(), timeout=30, **kw)

    directory = post(f"{BETA}/directories", json={"name": "secrets"}).json()["id"]
    item = post(f"{BETA}/directories/{directory}/files/upload",
                files={"upload_file": ("a.txt", b"secret-free text")}).json()["id"]
    hook = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: deliveries fail and log
    created = post(f"{BETA}/batch-processing", json={"item_ids": [item], "job_config": {
        "parameters": {
            "webhook_configurations": [{
                "webhook_url": hook, "webhook_signing_secret": SECRETS["signing"],
                "webhook_headers": {"X-Token": SECRETS["header"]}}],
            "azure_openai_key": SECRETS["azure"],
            "vendor_multimodal_api_key": SECRETS["vendor"]}}})
    assert created.status_code == 200, created.text
    job_id = created.json()["id"]
    deadline = time.time() + 90
    while get(f"{BETA}/batch-processing/{job_id}").json()["job"]["completed_at"] is None:
        assert time.time() < deadline
        time.sleep(0.3)
    seen = [created.text] + [get(path).text for path in (
        f"{BETA}/batch-processing/{job_id}", f"{BETA}/batch-processing",
        f"{BETA}/batch-processing/{job_id}/items", f"{BETA}/batch-processing/{job_id}/results",
        f"{BETA}/batch-processing/{job_id}/webhook-deliveries",
        f"{BETA}/batch-processing/items/{item}/processing-results")]
    assert "[redacted]" in seen[-1]  # the lineage shows the config, with the secret masked
    with stack.session() as session:
        config, sealed = session.execute(sa.text(
            "select job_config, secrets from batch_jobs where id = :j"), {"j": job_id}).one()
        payloads = session.execute(sa.text(
            "select payload from webhook_deliveries where job_id = :j"), {"j": job_id}).scalars()
        seen += [json.dumps(config), sealed] + [json.dumps(p) for p in payloads]
    seen += [p.read_text(errors="replace") for p in Path(stack.settings.data_dir).glob("*.log")]
    for name, secret in SECRETS.items():
        assert not any(secret in text for text in seen), name
    # Delivery needs the signing secret and headers: they are kept, encrypted with the server
    # key; provider keys the operator never asked for are not kept at all.
    from batchsvc.secrets import decrypt

    with use_settings(stack.settings):
        kept = json.dumps(decrypt(sealed))
    assert SECRETS["signing"] in kept and SECRETS["header"] in kept
    assert SECRETS["azure"] not in kept and SECRETS["vendor"] not in kept


def test_api_keys_are_stored_as_hashes(stack: Stack) -> None:
    with stack.session() as session:
        rows = session.execute(sa.text("select key_hash, prefix from api_keys")).all()
    digest = hashlib.sha256(stack.key.encode()).hexdigest()
    assert digest in {r.key_hash for r in rows}
    assert not any(stack.key in (r.key_hash + r.prefix) for r in rows)
    wrong = requests.get(f"{stack.url}{BETA}/directories", timeout=30,
                         headers={"Authorization": f"Bearer {stack.key[:-1]}x"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid API key"

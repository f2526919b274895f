"""Secrets inside job configs: stripped from what is stored and returned, kept encrypted.

Signing secrets and webhook headers are needed at delivery time, so they are encrypted with
the server key (``BATCHSVC_SECRET_KEY``); provider API keys a client sends are never used
(the operator configures the provider), so they are dropped altogether.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from batchsvc.settings import get_settings

REDACTED = "[redacted]"
# Keys whose values are kept (encrypted) because delivery needs them.
KEPT_SECRETS = {"webhook_signing_secret", "webhook_headers"}
# Keys whose values are dropped: credentials for providers the operator did not configure.
DROPPED_SECRETS = {
    "azure_openai_key", "gpt4o_api_key", "vendor_multimodal_api_key", "api_key",
    "http_proxy", "input_s3_path_credentials",
}


def _server_secret() -> str:
    """BATCHSVC_SECRET_KEY, or one generated into the data directory at first use.

    Created with O_EXCL: the API and the worker of `batchsvc run` start at once, and two
    different generated keys would leave one unable to decrypt the other's secrets."""
    settings = get_settings()
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_path) / "secret.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    generated = base64.urlsafe_b64encode(hashlib.sha256(Fernet.generate_key()).digest())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as out:
            out.write(generated)
    for _ in range(50):  # the creator may not have written it yet
        secret = path.read_text().strip()
        if secret:
            return secret
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty; remove it or set BATCHSVC_SECRET_KEY")


def _fernet() -> Fernet:
    key = base64.urlsafe_b64encode(hashlib.sha256(_server_secret().encode()).digest())
    return Fernet(key)


def derived_key(purpose: bytes) -> bytes:
    """A key for ``purpose`` (signing download URLs, …) derived from the server secret, so a
    leaked signature cannot be turned into another purpose's."""
    return hashlib.sha256(purpose + b":" + _server_secret().encode()).digest()


def split_secrets(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (config with secrets redacted, {json-path: secret value})."""
    clean = copy.deepcopy(config)
    found: dict[str, Any] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key in list(node):
                here = f"{path}.{key}" if path else key
                if key in KEPT_SECRETS and node[key]:
                    found[here] = node[key]
                    node[key] = REDACTED
                elif key in DROPPED_SECRETS and node[key]:
                    node[key] = REDACTED
                else:
                    walk(node[key], here)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}.{index}")

    walk(clean, "")
    return clean, found


def encrypt(values: dict[str, Any]) -> str | None:
    if not values:
        return None
    return _fernet().encrypt(json.dumps(values).encode()).decode()


def decrypt(token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        return {}


def restore(config: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Put decrypted secrets back into a copy of a redacted config (delivery time only)."""
    full = copy.deepcopy(config)
    for path, value in values.items():
        node: Any = full
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[parts[-1]] = value
    return full

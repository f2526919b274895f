"""A parse item's images (page screenshots, embedded figures) in the store, beside its output.

They are written before the output, under the claim (``seq``-``attempt``), and the output's
page records name their keys, so a result and every job that reuses it (dedup) find them.
An image the store refuses is left out with a warning: it fails alone."""

from __future__ import annotations

from typing import Any

from batchsvc.services.items.engines import EngineRun
from batchsvc.services.items.store import Claim
from batchsvc.storage import StorageError, get_storage


def image_prefix(claim: Claim) -> str:
    return f"results/{claim.project_id}/{claim.job_id}/images/{claim.seq}-{claim.attempt}"


def store_images(claim: Claim, run: EngineRun) -> None:
    """Store ``run.images`` and record each one's ``key`` in the output's page records."""
    if not run.images:
        return
    storage = get_storage()
    keys: dict[str, str] = {}
    warnings: list[str] = []
    for image in run.images:
        # A ref in the store new writes go to (an S3 bucket's URL, or a bare local key).
        key = storage.ref(f"{image_prefix(claim)}/{image.name}")
        try:
            storage.put_bytes(key, image.data)
        except StorageError as exc:
            warnings.append(f"image {image.name} could not be stored: {exc}")
            continue
        keys[image.name] = key
    for page in run.output.get("pages", []):
        records: list[dict[str, Any]] = page.get("images") or []
        page["images"] = [{**r, "key": keys[r["name"]]} for r in records if r["name"] in keys]
    if warnings:
        run.output.setdefault("job_metadata", {}).setdefault("warnings", []).extend(warnings)
    run.images = []  # the bytes are in the store; the output keeps the keys

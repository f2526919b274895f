"""Runs the real ``llama-parse`` client in its own environment (see Makefile's
``llama-parse`` target): one JSON request on stdin, one JSON answer on stdout.

It is a separate process because llama-parse 0.6.94 pins llama-cloud 0.1.46 (and
llama-index-core, marshmallow 3), which cannot share an environment with llama-cloud 2.13.0
and batchsvc; a LlamaIndex user has exactly that environment."""

from __future__ import annotations

import asyncio
import json
import sys
import warnings
from pathlib import Path
from typing import Any


def _documents(docs: list[Any]) -> list[dict[str, Any]]:
    return [{"text": d.text, "metadata": d.metadata} for d in docs]


def run(request: dict[str, Any]) -> Any:
    from llama_parse import LlamaParse

    parser = LlamaParse(api_key=request["api_key"], base_url=request["base_url"],
                        check_interval=1, max_timeout=240, show_progress=False,
                        **{"ignore_errors": False, **request.get("options", {})})
    files = request["files"]
    call = request["call"]
    if call == "load_data":
        return _documents(parser.load_data(files))
    if call == "aload_data":
        return _documents(asyncio.run(parser.aload_data(files)))
    if call == "load_bytes":
        data = Path(files).read_bytes()
        return _documents(parser.load_data(data, extra_info={"file_name": Path(files).name}))
    if call == "get_json_result":
        return parser.get_json_result(files)
    if call == "parse":
        # The newer JobResult API: it reads /api/v1/parsing/job/{id}/result/...
        job = parser.parse(files)
        return {"job_id": job.job_id,
                "pages": [d.text for d in job.get_markdown_documents(split_by_page=True)],
                "markdown": job.get_markdown(), "text": job.get_text(),
                "json_pages": len(job.get_json()["pages"]),
                "images": {name: job.get_image_data(name).hex()
                           for name in job.get_image_names()}}
    if call == "get_images":
        results = parser.get_json_result(files)
        images = parser.get_images(results, request["download_path"])
        return {"json": results, "images": images}
    raise ValueError(f"unknown call {call!r}")


def main() -> None:
    warnings.simplefilter("ignore")
    request = json.load(sys.stdin)
    # The client prints progress to stdout; the answer owns it.
    out, sys.stdout = sys.stdout, sys.stderr
    try:
        answer = {"ok": True, "result": run(request)}
    except Exception as exc:  # the test reads the client's own error
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    json.dump(answer, out, default=str)


if __name__ == "__main__":
    main()

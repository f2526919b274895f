"""``batchsvc submit``: upload files to a batchsvc server, run one batch, follow it with a
progress bar, and save the results. It speaks only the HTTP API (Bearer key), like the SDK.

Exit status: 0 when every item completed or was skipped, 2 when the batch ran but some
items failed or were cancelled, 1 when it could not run (bad input, server refused).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import requests

from batchsvc.settings import get_settings
from batchsvc.states import JOB_TERMINAL, JobStatus

BATCHES = "/api/v1/beta/batch-processing"
DIRECTORIES = "/api/v1/beta/directories"
TERMINAL = JOB_TERMINAL
RETRY_STATUSES = (429, 502, 503, 504)
ATTEMPTS = 6


class ClientError(Exception):
    """The server refused a request, or input could not be used; the message says which."""


class Client:
    """A Bearer-key HTTP client; one requests.Session per thread (sessions are not shared)."""

    def __init__(self, url: str, api_key: str, timeout: float = 60.0) -> None:
        self.url, self.api_key, self.timeout = url.rstrip("/"), api_key, timeout
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
            self._local.session.headers["Authorization"] = f"Bearer {self.api_key}"
            self._local.session.headers["User-Agent"] = "batchsvc-submit"
        return self._local.session

    def request(self, method: str, path: str, files: Callable[[], dict[str, Any]] | None = None,
                **kw: Any) -> requests.Response:
        """Retries refused connections and 429/5xx-busy answers; ``files`` re-opens the
        multipart parts for each attempt."""
        for attempt in range(ATTEMPTS):
            parts = files() if files else None
            try:
                response = self.session.request(method, self.url + path, files=parts,
                                                timeout=self.timeout, **kw)
            except requests.ConnectionError as exc:
                if attempt == ATTEMPTS - 1:
                    raise ClientError(f"cannot reach {self.url}: {exc}") from exc
                time.sleep(min(8, 2 ** attempt))
                continue
            finally:
                for _, handle in (parts or {}).values():
                    handle.close()
            if response.status_code in RETRY_STATUSES and attempt < ATTEMPTS - 1:
                wait = response.headers.get("Retry-After", "")
                time.sleep(float(wait) if wait.isdigit() else min(8, 2 ** attempt))
                continue
            if response.status_code >= 400:
                raise ClientError(f"{method} {path}: HTTP {response.status_code}: "
                                  f"{_detail(response)}")
            return response
        raise ClientError(f"{method} {path}: no answer after {ATTEMPTS} attempts")

    def json(self, method: str, path: str, **kw: Any) -> Any:
        return self.request(method, path, **kw).json()


def _detail(response: requests.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:500]
    return detail if isinstance(detail, str) else json.dumps(detail)


class Progress:
    """A redrawn bar on a terminal; plain lines (only when something changed) otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last_line, self._last_time = "", 0.0

    def show(self, line: str, final: bool = False) -> None:
        now = time.monotonic()
        if line == self._last_line and not final:
            return
        if not final and now - self._last_time < (0.1 if self.tty else 1.0):
            return
        self._last_line, self._last_time = line, now
        if self.tty:
            width = max(20, _columns() - 1)
            self.stream.write("\r" + line[:width].ljust(width) + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _columns() -> int:
    try:
        # A terminal that reports no size (0 columns) gets the default width too.
        return os.get_terminal_size(sys.stderr.fileno()).columns or 100
    except OSError:
        return 100


def bar(done: int, total: int, width: int = 24) -> str:
    filled = width if total == 0 else round(width * min(done, total) / total)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def progress_line(job: dict[str, Any], elapsed: float) -> str:
    total = job["total_items"]
    ok, failed = job["processed_items"], job["failed_items"]
    skipped, cancelled = job["skipped_items"], job.get("cancelled_items", 0)
    done = ok + failed + skipped + cancelled
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = f"  ETA {_duration((total - done) / rate)}" if rate > 0 and done < total else ""
    percent = 100 if not total else 100 * min(done, total) // total
    return (f"{job['status']:<10} {bar(done, total)} {done}/{total} {percent:3d}%  "
            f"ok {ok}  failed {failed}  skipped {skipped}  {rate:.1f} items/s{eta}")


def collect_files(paths: list[Path]) -> list[Path]:
    """Files named, and every non-hidden file under folders named, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and not any(
                part.startswith(".") for part in p.relative_to(path).parts)))
        elif path.is_file():
            found.append(path)
        else:
            raise ClientError(f"{path}: no such file or folder")
    if not found:
        raise ClientError("no files to submit")
    return found


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ClientError(f"{what} {path}: {exc}") from exc


def job_config(args: argparse.Namespace) -> dict[str, Any]:
    options = _read_json(args.options, "--options") if args.options else {}
    if not isinstance(options, dict):
        raise ClientError("--options must hold a JSON object")
    if args.classify:
        rules = _read_json(args.classify, "--classify")
        config = dict(rules) if isinstance(rules, dict) else {"rules": rules}
        if not isinstance(config.get("rules"), list):
            raise ClientError("--classify must hold a list of rules or {\"rules\": [...]}")
        return {**options, **config}
    # Parse options are the job's parameters, unless the file already is a whole job_config.
    return options if "parameters" in options else {"parameters": options}


def upload_all(client: Client, directory_id: str, files: list[Path], threads: int,
               progress: Progress) -> list[dict[str, Any]]:
    path = f"{DIRECTORIES}/{directory_id}/files/upload"
    started, sent, lock = time.monotonic(), [0, 0], threading.Lock()

    def upload(file: Path) -> dict[str, Any]:
        def open_files() -> dict[str, Any]:
            return {"upload_file": (file.name, file.open("rb"))}

        row = client.json("POST", path, files=open_files)
        with lock:
            sent[0] += 1
            sent[1] += file.stat().st_size
            rate = sent[1] / max(time.monotonic() - started, 1e-6) / 1e6
            progress.show(f"uploading  {bar(sent[0], len(files))} {sent[0]}/{len(files)} files"
                          f"  {rate:.1f} MB/s", final=sent[0] == len(files))
        return row

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        futures = [pool.submit(upload, file) for file in files]
        return [future.result() for future in as_completed(futures)]


def follow(client: Client, job_id: str, progress: Progress,
           interval: float = 0.5) -> dict[str, Any]:
    started = time.monotonic()
    while True:
        job = client.json("GET", f"{BATCHES}/{job_id}")["job"]
        ended = job["status"] in TERMINAL and job.get("completed_at")
        progress.show(progress_line(job, time.monotonic() - started), final=bool(ended))
        if ended:
            return job
        time.sleep(interval)


def save_results(client: Client, job_id: str, out: Path) -> list[str]:
    """Stream the job's zip to disk, then unpack it: ``<name>.md`` per parsed document plus
    manifest.jsonl, or classifications.jsonl."""
    out.mkdir(parents=True, exist_ok=True)
    response = client.request("GET", f"{BATCHES}/{job_id}/results", params={"format": "zip"},
                              stream=True)
    with tempfile.TemporaryFile() as buffer:
        for chunk in response.iter_content(1 << 16):
            buffer.write(chunk)
        buffer.seek(0)
        written = []
        with zipfile.ZipFile(buffer) as archive:
            for info in archive.infolist():
                name = Path(info.filename).name  # never outside --out
                if not name or info.is_dir():
                    continue
                (out / name).write_bytes(archive.read(info))
                written.append(name)
    return written


def run(args: argparse.Namespace, stdout: TextIO = sys.stdout,
        stderr: TextIO = sys.stderr) -> int:
    try:
        return _run(args, stdout, stderr)
    except ClientError as exc:
        stderr.write(f"error: {exc}\n")
        return 1


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    if not args.api_key:
        raise ClientError("an API key is needed: --api-key or BATCHSVC_API_KEY")
    files = collect_files(args.paths)
    config = job_config(args)
    client = Client(args.url, args.api_key)
    progress = Progress(stderr)
    name = args.directory_name or f"submit {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
    directory = client.json("POST", DIRECTORIES, json={"name": name})
    upload_all(client, directory["id"], files, args.uploads, progress)
    job = client.json("POST", BATCHES, json={"job_config": config,
                                             "directory_id": directory["id"]})
    stdout.write(f"job {job['id']} ({job['job_type']}, {len(files)} files, "
                 f"directory {directory['id']})\n")
    stdout.flush()
    if not (args.wait or args.out):
        return 0
    final = follow(client, job["id"], progress)
    if args.out:
        written = save_results(client, job["id"], args.out)
        stdout.write(f"wrote {len(written)} files to {args.out}\n")
    stdout.write(f"{final['status']}: {final['processed_items']} processed, "
                 f"{final['failed_items']} failed, {final['skipped_items']} skipped\n")
    clean = final["status"] == JobStatus.COMPLETED and not final["failed_items"] \
        and not final.get("cancelled_items")
    return 0 if clean else 2


def add_parser(sub: Any) -> None:
    """The ``submit`` subcommand of ``batchsvc``."""
    p = sub.add_parser("submit", help="upload files, run a parse or classify batch, save "
                       "the results", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", type=Path, help="files, or folders to walk")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--parse", action="store_true", help="parse every file to markdown")
    kind.add_argument("--classify", type=Path, metavar="RULES.json",
                      help='classify by rules: [{"type": ..., "description": ...}, ...]')
    p.add_argument("--options", type=Path, metavar="FILE.json",
                   help="parse parameters (or a whole job_config); classify: mode etc.")
    p.add_argument("--wait", action="store_true", help="follow the batch until it ends")
    p.add_argument("--out", type=Path, metavar="DIR", help="save results here (implies --wait)")
    p.add_argument("--url", default=get_settings().url,
                   help="server URL (env BATCHSVC_URL)")
    p.add_argument("--api-key", default=get_settings().api_key or None,
                   help="API key (env BATCHSVC_API_KEY)")
    p.add_argument("--directory-name", help="name of the directory the files go into")
    p.add_argument("--uploads", type=int, default=4, help="concurrent uploads (default 4)")
    p.set_defaults(func=run)

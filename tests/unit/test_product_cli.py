"""``batchsvc submit`` pieces that need no server: arguments, inputs, progress output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from batchsvc import client_cli
from batchsvc.cli import parse_command


def job(**counts: int) -> dict:
    base = {"status": "running", "total_items": 10, "processed_items": 0, "failed_items": 0,
            "skipped_items": 0, "cancelled_items": 0}
    return base | counts


def test_progress_line_counts_rate_and_eta() -> None:
    line = client_cli.progress_line(job(processed_items=3, failed_items=1, skipped_items=1), 2.5)
    assert "[############------------] 5/10  50%" in line
    assert "ok 3  failed 1  skipped 1  2.0 items/s  ETA 2s" in line
    done = client_cli.progress_line(job(status="completed", processed_items=10), 100.0)
    assert "10/10 100%" in done and "ETA" not in done
    assert "0/0 100%" in client_cli.progress_line(job(total_items=0), 0.0)


def test_plain_progress_prints_only_changes() -> None:
    out = io.StringIO()
    progress = client_cli.Progress(out)
    progress.show("a", final=True)
    progress.show("a", final=False)  # unchanged: nothing
    progress.show("b", final=True)
    assert out.getvalue() == "a\nb\n"


def test_collect_files_walks_folders_and_skips_hidden(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    for name in ("b.pdf", "sub/a.docx", ".hidden", ".git/config"):
        (tmp_path / name).write_text("x")
    lone = tmp_path / "sub" / "a.docx"
    found = client_cli.collect_files([tmp_path, lone])
    assert found == [tmp_path / "b.pdf", tmp_path / "sub" / "a.docx", lone]
    with pytest.raises(client_cli.ClientError, match="no such file"):
        client_cli.collect_files([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(client_cli.ClientError, match="no files"):
        client_cli.collect_files([tmp_path / "empty"])


def write(tmp_path: Path, name: str, value: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(value))
    return path


def test_job_config_from_options_and_rules(tmp_path: Path) -> None:
    params = write(tmp_path, "o.json", {"max_pages": 2})
    args = parse_command(["submit", "x", "--parse", "--options", str(params)])
    assert client_cli.job_config(args) == {"parameters": {"max_pages": 2}}
    whole = write(tmp_path, "w.json", {"parameters": {"max_pages": 1}, "webhook_url": "u"})
    args = parse_command(["submit", "x", "--parse", "--options", str(whole)])
    assert client_cli.job_config(args) == {"parameters": {"max_pages": 1}, "webhook_url": "u"}
    rules = [{"type": "invoice", "description": "a bill"}]
    args = parse_command(["submit", "x", "--classify", str(write(tmp_path, "r.json", rules))])
    assert client_cli.job_config(args) == {"rules": rules}
    bad = write(tmp_path, "bad.json", {"rule": []})
    args = parse_command(["submit", "x", "--classify", str(bad)])
    with pytest.raises(client_cli.ClientError, match="list of rules"):
        client_cli.job_config(args)


def test_submit_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        parse_command(["submit", "x"])  # --parse or --classify is required
    with pytest.raises(SystemExit):
        parse_command(["submit", "x", "--parse", "--classify", "r.json"])
    args = parse_command(["submit", "a", "b", "--parse", "--out", "o", "--url", "http://h:1",
                          "--api-key", "k"])
    assert args.paths == [Path("a"), Path("b")] and args.out == Path("o")
    assert (args.url, args.api_key) == ("http://h:1", "k")
    monkeypatch.delenv("BATCHSVC_API_KEY", raising=False)
    err = io.StringIO()
    args = parse_command(["submit", str(tmp_path), "--parse"])
    assert client_cli.run(args, io.StringIO(), err) == 1
    assert err.getvalue() == "error: an API key is needed: --api-key or BATCHSVC_API_KEY\n"

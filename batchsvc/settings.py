"""One settings object for the API, the workers and the CLI: code defaults, overridden by
``BATCHSVC_*`` environment variables. The embedded default needs none of them."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

_TRUE = {"1", "true", "yes", "on"}


def _coerce(raw: str, kind: type) -> Any:
    if kind is bool:
        return raw.strip().lower() in _TRUE
    if kind is int:
        return int(raw)
    if kind is float:
        return float(raw)
    return raw


@dataclass(frozen=True)
class Settings:
    data_dir: str = "./.batchsvc"
    host: str = "127.0.0.1"
    port: int = 8000
    # Empty means "embedded": SQLite / filesystem broker / local files under data_dir.
    database_url: str = ""
    broker_url: str = ""
    result_backend: str = ""
    storage_url: str = ""
    # Where bare keys (what file:// and db:// stores write) are read when storage_url is an
    # s3:// URL; empty: the store this database would have by default (README, Deployment).
    local_storage_url: str = ""
    # S3-compatible object storage (storage_url s3://bucket/prefix, input_s3_path,
    # output_s3_path_prefix). Empty credentials: boto3's usual chain (AWS_ACCESS_KEY_ID...).
    s3_endpoint_url: str = ""
    # The endpoint presigned download URLs name, when clients reach the store by another
    # address than the workers do (compose: http://minio:9000 inside, localhost outside).
    s3_public_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    # "path" (MinIO, moto; the default with an endpoint URL), "virtual" or "auto".
    s3_addressing_style: str = ""
    s3_timeout_seconds: float = 30.0
    # Prefix for every broker and result key, so several deployments (or test runs) can share
    # one Redis without seeing each other's messages.
    namespace: str = ""
    secret_key: str = ""
    bootstrap_api_key: str = ""
    default_project: str = "default"
    max_upload_bytes: int = 100 * 1024 * 1024
    max_body_bytes: int = 8 * 1024 * 1024
    max_item_bytes: int = 100 * 1024 * 1024
    default_page_size: int = 100
    pages_in_flight: int = 2
    # Liveness, not duration: a claimed item's lease is renewed every third of it while its
    # worker process is alive and inside the item's time limit, so a dead worker's items are
    # re-sent about this long after it died, however long items may take (docs/liveness.md).
    item_lease_seconds: int = 30
    # A queued item not claimed by then is re-sent even while its queue still holds messages
    # (an empty queue with unclaimed items is found at the next sweep).
    item_queue_timeout_seconds: int = 1800
    item_max_attempts: int = 3
    item_time_limit_seconds: int = 600
    item_memory_limit_mb: int = 1536
    # False: item updates commit without waiting for the WAL flush (a database crash can lose
    # the last moments of item progress; the sweeper re-runs those items). True: durable.
    item_synchronous_commit: bool = False
    sweep_interval_seconds: float = 10.0
    # A directory created with type="ephemeral" expires this long after its creation; the
    # sweeper then deletes it and the files only it held.
    ephemeral_directory_ttl_seconds: int = 24 * 3600
    # SIGTERM: running items get this long to finish; the rest are handed back to the broker
    # at once (another worker re-claims them without waiting for a lease). Keep it below the
    # orchestrator's own stop timeout (compose's stop_grace_period, Kubernetes' 30 s).
    worker_shutdown_grace_seconds: float = 25.0
    # API processes, workers and beat wait this long at start for a migrated database.
    schema_wait_seconds: float = 60.0
    redis_unacked_restore_interval: float = 2.0
    worker_concurrency: int = 0
    # Where each worker serves its Prometheus metrics (0: not served); see batchsvc.metrics.
    worker_metrics_port: int = 0
    # Outbound requests (webhooks, and documents fetched from source_url/input_url) may go to
    # private, loopback and link-local addresses: either name allows it (the first is the
    # older, webhooks-only name, still honoured for both).
    webhook_allow_private_networks: bool = False
    allow_private_networks: bool = False
    # A document fetched from a URL: the whole fetch, redirects included, within this.
    input_url_timeout_seconds: float = 60.0
    webhook_timeout_seconds: float = 10.0
    # Retry n waits base * 2**(n-1) (±10 % jitter): 30 s and 10 attempts span about 4 hours.
    webhook_retry_base_seconds: float = 30.0
    webhook_max_attempts: int = 10
    # Base URL clients reach the API at; webhook payload links are absolute when it is set.
    public_url: str = ""
    rate_limit_per_minute: int = 0
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_model: str = ""
    # The classifier's ONNX graph: built once into this directory (default ~/.cache/batchsvc);
    # int8 unless classify_quantize is false (fp32: slower, within cos 0.99 of int8).
    model_cache: str = ""
    classify_quantize: bool = True
    # gunicorn worker processes for `batchsvc serve`.
    api_workers: int = 2
    # The `batchsvc submit` client's defaults: the API's URL and key.
    url: str = "http://127.0.0.1:8000"
    api_key: str = ""
    log_level: str = "INFO"
    log_json: bool = True

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"BATCHSVC_{f.name.upper()}")
            if raw is not None and raw != "":
                kind = type(f.default) if not callable(f.default) else str
                values[f.name] = _coerce(raw, kind)
        values.update(overrides)
        return cls(**values)

    # Derived values: one place decides what "embedded" means.
    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def embedded(self) -> bool:
        return not self.database_url

    @property
    def private_networks_allowed(self) -> bool:
        return self.allow_private_networks or self.webhook_allow_private_networks

    @property
    def sqlalchemy_url(self) -> str:
        url = self.database_url or f"sqlite:///{self.data_path / 'batchsvc.sqlite3'}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @property
    def is_postgres(self) -> bool:
        return self.sqlalchemy_url.startswith("postgresql")

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def celery_result_backend(self) -> str:
        if self.result_backend:
            return self.result_backend
        if self.broker_url.startswith("redis"):
            return self.broker_url
        if self.is_postgres:
            return "db+" + self.sqlalchemy_url
        return f"db+sqlite:///{self.data_path / 'celery-results.sqlite3'}"

    @property
    def resolved_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        if self.is_postgres:
            # Every worker on every host reaches the database already: no extra service.
            return "db://"
        return f"file://{self.data_path / 'files'}"

    @property
    def resolved_local_storage_url(self) -> str:
        if not self.resolved_storage_url.startswith("s3:"):
            return self.resolved_storage_url
        if self.local_storage_url:
            return self.local_storage_url
        return "db://" if self.is_postgres else f"file://{self.data_path / 'files'}"

    @property
    def heartbeat_seconds(self) -> float:
        """How often a running item renews its lease: three chances before it expires."""
        return max(1.0, self.item_lease_seconds / 3)

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)


_current: Settings | None = None


def get_settings() -> Settings:
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current


def set_settings(settings: Settings | None) -> None:
    """Replace the process-wide settings (tests, CLI flags)."""
    global _current
    _current = settings

"""``s3://bucket/prefix``: objects in an S3-compatible store (AWS S3, MinIO, Ceph RGW, R2).

Uploads stream in parts (one part in memory at a time), each part and each single PUT
carrying its SHA-256 for the store to verify; reads check the object's own checksum (our
``sha256`` metadata, or the MD5 ETag of an object imported by reference). Errors become
StorageError naming the object's ``s3://`` URL, so an item fails with a readable reason.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from functools import lru_cache
from typing import IO, Any
from urllib.parse import quote, urlparse

import sqlalchemy as sa

from batchsvc.storage.base import CHUNK, StorageError, read_limited

# S3's smallest part but the last is 5 MiB; 8 MiB parts keep a 1 GB upload to 128 requests.
PART = 8 * 1024 * 1024


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> (bucket, "some/key")."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageError(f"{url!r} is not an s3://bucket/key URL")
    return parsed.netloc, parsed.path.lstrip("/")


@lru_cache(maxsize=32)
def _client(pid: int, region: str, endpoint: str, creds: tuple[str, str], style: str,
            timeout: float) -> Any:
    """One client per process (``pid``: a forked worker must not share the parent's pool)."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region or None, connect_timeout=timeout, read_timeout=timeout,
        retries={"max_attempts": 3, "mode": "standard"}, signature_version="s3v4",
        s3={"addressing_style": style or ("path" if endpoint else "auto")})
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint or None, aws_access_key_id=creds[0] or None,
        aws_secret_access_key=creds[1] or None, config=config)


def client(region: str | None = None, *, public: bool = False) -> Any:
    """A boto3 S3 client from the settings (credentials: the settings, else boto3's usual
    chain: AWS_* variables, shared files, instance roles). ``public``: presigned URLs name
    the endpoint clients reach (``s3_public_endpoint_url``), not the one workers use."""
    from batchsvc.settings import get_settings

    s = get_settings()
    endpoint = (s.s3_public_endpoint_url if public else "") or s.s3_endpoint_url
    return _client(os.getpid(), region or s.s3_region or os.environ.get("AWS_REGION", "")
                   or os.environ.get("AWS_DEFAULT_REGION", "") or "us-east-1", endpoint,
                   (s.s3_access_key_id, s.s3_secret_access_key), s.s3_addressing_style,
                   s.s3_timeout_seconds)


def explain(exc: Exception, url: str, doing: str) -> StorageError:
    """A readable StorageError for a boto3 failure on ``url``."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchKey", "404", "NotFound"):
            return StorageError(f"stored object {url} is missing")
        if code in ("PreconditionFailed", "412") or status == 412:
            return StorageError(f"stored object {url} changed since it was registered (its "
                                "ETag is no longer the one listed)")
        if code == "NoSuchBucket":
            return StorageError(f"bucket {split_url(url)[0]!r} does not exist ({doing} {url})")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch") \
                or status == 403:
            return StorageError(f"access denied {doing} {url} ({code or status})")
        return StorageError(f"S3 error {doing} {url}: {code} {error.get('Message', '')}".strip())
    if isinstance(exc, NoCredentialsError):
        return StorageError(f"no S3 credentials are configured ({doing} {url})")
    if isinstance(exc, BotoCoreError):
        return StorageError(f"S3 unreachable {doing} {url}: {exc}")
    return StorageError(f"{doing} {url}: {exc}")


def _code(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    return str(exc.response.get("Error", {}).get("Code", "")) \
        if isinstance(exc, ClientError) else ""


def _parts(stream: IO[bytes], limit: int | None) -> Iterator[bytes]:
    """The stream in PART-sized pieces (a stream's read may return less than asked)."""
    buffer: list[bytes] = []
    held = 0
    for chunk in read_limited(stream, limit):
        buffer.append(chunk)
        held += len(chunk)
        if held >= PART:
            data = b"".join(buffer)
            yield data[:PART]
            buffer, held = [data[PART:]], held - PART
    if held or not buffer:
        yield b"".join(buffer)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


class S3Storage:
    def __init__(self, bucket: str, prefix: str = "", region: str | None = None) -> None:
        self.bucket, self.region = bucket, region
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def __hash__(self) -> int:
        return hash((self.bucket, self.prefix, self.region))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3Storage) and (self.bucket, self.prefix, self.region) == (
            other.bucket, other.prefix, other.region)

    @property
    def _s3(self) -> Any:
        return client(self.region)

    def _name(self, key: str) -> str:
        return self.prefix + key

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._name(key)}"

    def ref(self, key: str) -> str:
        return self.location(key)

    def put_stream(self, key: str, stream: IO[bytes], limit: int | None = None) -> tuple[int, str]:
        name, url = self._name(key), self.location(key)
        digest, size = hashlib.sha256(), 0
        parts = _parts(stream, limit)
        first = next(parts)
        second = next(parts, None)
        try:
            if second is None:
                digest.update(first)
                self._put(name, first, digest.hexdigest())
                return len(first), digest.hexdigest()
            upload = self._s3.create_multipart_upload(
                Bucket=self.bucket, Key=name, ChecksumAlgorithm="SHA256")["UploadId"]
        except Exception as exc:
            raise explain(exc, url, "writing") from exc
        done: list[dict[str, Any]] = []
        try:
            for number, part in enumerate(_chain(first, second, parts), start=1):
                digest.update(part)
                size += len(part)
                checksum = _b64(hashlib.sha256(part).digest())
                answer = self._s3.upload_part(
                    Bucket=self.bucket, Key=name, UploadId=upload, PartNumber=number,
                    Body=part, ChecksumSHA256=checksum)
                done.append({"PartNumber": number, "ETag": answer["ETag"],
                             "ChecksumSHA256": checksum})
            self._s3.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload,
                MultipartUpload={"Parts": done})
        except BaseException as exc:
            # An abandoned upload keeps its parts (and their cost) until aborted.
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload)
            if isinstance(exc, StorageError):
                raise
            if isinstance(exc, Exception):
                raise explain(exc, url, "writing") from exc
            raise
        return size, digest.hexdigest()

    def _put(self, name: str, data: bytes, sha256: str) -> None:
        digest = bytes.fromhex(sha256)
        self._s3.put_object(Bucket=self.bucket, Key=name, Body=data,
                            ChecksumSHA256=_b64(digest), Metadata={"sha256": sha256})

    def put_bytes(self, key: str, data: bytes, connection: sa.Connection | None = None) -> None:
        try:
            self._put(self._name(key), data, hashlib.sha256(data).hexdigest())
        except Exception as exc:
            raise explain(exc, self.location(key), "writing") from exc

    def get_bytes(self, key: str, connection: sa.Connection | None = None,
                  if_match: str | None = None) -> bytes:
        url = self.location(key)
        version = {"IfMatch": f'"{if_match}"'} if if_match else {}
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=self._name(key), **version)
            data = answer["Body"].read()
        except Exception as exc:
            raise explain(exc, url, "reading") from exc
        _verify(url, data, answer)
        return data

    def read_range(self, key: str, start: int, length: int) -> tuple[bytes, int]:
        """(``length`` bytes from ``start``, the object's size): one ranged GET."""
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=self._name(key),
                                         Range=f"bytes={start}-{start + length - 1}")
            data = bytes(answer["Body"].read())
        except Exception as exc:
            if _code(exc) == "InvalidRange":
                return b"", 0  # an empty object has no byte 0 to range over
            raise explain(exc, self.location(key), "reading") from exc
        total = str(answer.get("ContentRange", "")).rsplit("/", 1)[-1]
        return data, int(total) if total.isdigit() else start + len(data)

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        # One ranged GET per chunk: a stream of any size holds one chunk, and a dropped
        # connection costs one chunk's retry, not the object's.
        start, size = 0, None
        while size is None or start < size:
            data, size = self.read_range(key, start, CHUNK)
            if not data:
                return
            start += len(data)
            yield data

    def delete(self, key: str, connection: sa.Connection | None = None) -> None:
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=self._name(key))
        except Exception as exc:
            raise explain(exc, self.location(key), "deleting") from exc

    def presigned_get(self, key: str, ttl_seconds: int, filename: str | None = None
                      ) -> str | None:
        params = {"Bucket": self.bucket, "Key": self._name(key)}
        if filename:
            params["ResponseContentDisposition"] = \
                f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
        return str(client(self.region, public=True).generate_presigned_url(
            "get_object", Params=params, ExpiresIn=ttl_seconds))

    def sql_reader(self, key: Any) -> Any | None:
        return None

    def sql_writer(self, size: int) -> Any | None:
        return None


def _chain(first: bytes, second: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield second
    yield from rest


def _verify(url: str, data: bytes, answer: dict[str, Any]) -> None:
    """Our sha256 metadata, else a single-part object's MD5 ETag (multipart ETags and
    KMS-encrypted objects' are not digests of the bytes: the store checked those parts)."""
    expected = (answer.get("Metadata") or {}).get("sha256")
    if expected:
        if hashlib.sha256(data).hexdigest() != expected:
            raise StorageError(f"stored object {url} fails its sha256 check")
        return
    etag = str(answer.get("ETag", "")).strip('"')
    if len(etag) == 32 and "-" not in etag and answer.get("ServerSideEncryption") != "aws:kms" \
            and hashlib.md5(data, usedforsecurity=False).hexdigest() != etag:
        raise StorageError(f"stored object {url} fails its ETag (MD5) check")

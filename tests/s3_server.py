"""An S3 endpoint for the tests: moto's standalone server on loopback (the S3 HTTP API, as
MinIO would speak it), IAM enforcement switched on only where a test asks for it, and a TCP
proxy that delays every exchange (a slow endpoint)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import requests

from tests.harness import free_port

ROOT_KEY = ("AKIAROOTTESTKEY00000", "root-secret")


@dataclass
class S3Server:
    endpoint: str

    def client(self, service: str = "s3", key: tuple[str, str] = ROOT_KEY) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=key[0], aws_secret_access_key=key[1],
                            config=Config(s3={"addressing_style": "path"}))

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def user(self, name: str, buckets: list[str]) -> tuple[str, str]:
        """An IAM user allowed everything on ``buckets`` and nothing else."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        arns = [arn for b in buckets for arn in (f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*")]
        iam.put_user_policy(UserName=name, PolicyName="buckets", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": arns}]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    @contextmanager
    def enforcing(self) -> Iterator[None]:
        """moto checks credentials and IAM user policies only while this is on (it does not
        evaluate bucket policies, and its presigned-URL path fails under enforcement)."""
        requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"0", timeout=5)
        try:
            yield
        finally:
            requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"inf", timeout=5)


@contextmanager
def moto_server() -> Iterator[S3Server]:
    import logging

    from moto.server import ThreadedMotoServer

    # One access line per S3 request would bury everything else in the output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its accounts, users and buckets in this process, not in the server: start
    # (and leave) each server empty, so a module never finds another module's state.
    requests.post(f"{endpoint}/moto-api/reset", timeout=5)
    try:
        yield S3Server(endpoint)
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=5)
        server.stop()


@contextmanager
def slow_proxy(endpoint: str, delay: float) -> Iterator[str]:
    """A loopback TCP proxy to ``endpoint`` that holds every piece of the answer ``delay``
    seconds before passing it on."""
    host, port = endpoint.rsplit("//", 1)[1].split(":")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket, wait: float) -> None:
        try:
            while data := src.recv(65536):
                time.sleep(wait)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection((host, int(port)))
            threading.Thread(target=pump, args=(conn, upstream, 0), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, conn, delay), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()

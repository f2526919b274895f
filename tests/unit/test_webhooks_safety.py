"""Where webhooks may go: address vetting, URL rules, and the create-time 422s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from marshmallow import ValidationError

from batchsvc.errors import Invalid
from batchsvc.settings import Settings, set_settings
from batchsvc.webhooks.safety import Refused, address_problem, check_url, parse_url, resolve
from batchsvc.webhooks.validation import validate_targets
from schemas.batch import BatchCreateSchema
from schemas.common import validation_detail

REFUSED = {
    "127.0.0.1": "loopback", "127.8.8.8": "loopback", "::1": "loopback",
    "10.1.2.3": "private", "172.16.5.4": "private", "192.168.1.1": "private",
    "fc00::1": "private", "169.254.1.1": "link-local", "fe80::1%eth0": "link-local",
    "169.254.169.254": "metadata", "fd00:ec2::254": "metadata", "100.100.100.200": "metadata",
    "::ffff:127.0.0.1": "loopback", "::ffff:10.0.0.1": "private",
    "2002:7f00:1::": "loopback", "0.0.0.0": "", "100.64.0.1": "not a public",
    "224.0.0.1": "multicast", "192.0.2.10": "", "255.255.255.255": "",
}


@pytest.mark.parametrize("address", sorted(REFUSED))
def test_internal_addresses_are_refused(address: str) -> None:
    problem = address_problem(address, allow_private=False)
    assert problem is not None and REFUSED[address] in problem


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(address, allow_private=False) is None


def test_allowing_private_networks_still_refuses_metadata() -> None:
    assert address_problem("127.0.0.1", allow_private=True) is None
    assert address_problem("10.0.0.7", allow_private=True) is None
    assert "metadata" in (address_problem("169.254.169.254", allow_private=True) or "")


@pytest.mark.parametrize("url,reason", [
    ("ftp://example.com/hook", "http or https"), ("file:///etc/passwd", "http or https"),
    ("javascript:alert(1)", "http or https"), ("http:///path", "host"),
    ("https://user:pw@example.com/", "credentials"), ("http://example.com:0/", "port 0"),
    ("http://exa mple.com/", "spaces"), ("http://example.com:99999/", "valid URL"),
    (42, "http or https"), ("", "http or https"),
])
def test_url_rules(url: object, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        parse_url(url)


def test_names_are_resolved_and_every_address_vetted() -> None:
    with pytest.raises(Refused, match="loopback"):
        resolve("localhost", 80, allow_private=False)
    assert "127.0.0.1" in resolve("localhost", 80, allow_private=True)
    with pytest.raises(Refused, match="does not resolve"):
        resolve("no-such-host.invalid", 80, allow_private=False)


def test_check_url_literal_and_named_hosts() -> None:
    check_url("https://93.184.216.34/hook", allow_private=False)
    check_url("http://localhost:8080/hook", allow_private=True)
    for url in ("http://localhost:8080/", "http://[::ffff:10.0.0.1]/", "http://[::1]:81/"):
        with pytest.raises(Refused):
            check_url(url, allow_private=False)


@pytest.fixture()
def private_networks_refused() -> Iterator[None]:
    set_settings(Settings(webhook_allow_private_networks=False))
    yield
    set_settings(None)


def _detail(config: dict, prefix: list) -> list[dict]:  # type: ignore[type-arg]
    with pytest.raises(Invalid) as caught:
        validate_targets(config, prefix)
    return caught.value.detail


def test_create_time_422_names_the_field(private_networks_refused: None) -> None:
    config = {"webhook_url": "http://169.254.169.254/latest", "parameters": {
        "webhook_configurations": [{"webhook_url": "https://93.184.216.34/ok"},
                                   {"webhook_url": "http://127.0.0.1:8080/hook"}]}}
    detail = _detail(config, ["body", "job_config"])
    assert [d["loc"] for d in detail] == [
        ["body", "job_config", "webhook_url"],
        ["body", "job_config", "parameters", "webhook_configurations", 1, "webhook_url"]]
    assert "metadata" in detail[0]["msg"] and "loopback" in detail[1]["msg"]
    classify = {"rules": [], "webhook_configurations": [{"webhook_url": "http://10.0.0.1/"}]}
    assert _detail(classify, ["body"])[0]["loc"] == [
        "body", "webhook_configurations", 0, "webhook_url"]
    validate_targets({"parameters": {"webhook_url": "https://93.184.216.34/"}}, ["body"])


def test_malformed_configurations_outside_the_typed_parameters(
        private_networks_refused: None) -> None:
    """The request schema types webhook targets at every level of a config."""
    secret = "tok-do-not-echo"
    config = {"rules": [{"type": "invoice", "description": "a bill"}],
              "webhook_configurations": [
        {"webhook_url": "https://93.184.216.34/", "webhook_headers": {"X-Auth": secret + "\r\n"}},
        "not an object",
        {"webhook_url": "https://93.184.216.34/", "webhook_headers": {"Content-Type": "x"}},
        {"webhook_url": "https://93.184.216.34/", "webhook_output_format": "xml"}],
        "parameters": {"webhook_url": 7}}
    with pytest.raises(ValidationError) as exc:
        BatchCreateSchema().load({"job_config": config, "directory_id": "d"})
    detail = validation_detail(exc.value, "body")
    locs = [d["loc"] for d in detail]
    assert ["body", "job_config", "webhook_configurations", 0, "webhook_headers"] in locs
    assert ["body", "job_config", "webhook_configurations", 1] in locs
    assert ["body", "job_config", "webhook_configurations", 2, "webhook_headers"] in locs
    assert ["body", "job_config", "webhook_configurations", 3,
            "webhook_output_format"] in locs
    assert ["body", "job_config", "parameters", "webhook_url"] in locs
    assert secret not in repr(detail)

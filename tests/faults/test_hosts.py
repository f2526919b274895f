"""Faults across hosts (network namespaces, tests/faults/netns.py): a worker host cut off the
network mid-batch and brought back, and a worker host crashed, with Redis and with RabbitMQ
as the broker, all at the shipped defaults. One class per broker, so pytest-xdist's
loadscope may run the two on different processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.hosts import HOST_FAULTS, HostsEnv, hosts_env
from tests.faults.netns import NetnsUnavailable, require_netns
from tests.faults.scenarios import Outcome, query, run_fault
from tests.faults.test_faults import assert_accounted

pytestmark = pytest.mark.faults


@pytest.fixture(scope="class")
def hosts(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[HostsEnv]:
    try:
        require_netns()
    except NetnsUnavailable as exc:  # the machine supports it: a failure, not a skip
        pytest.fail(f"the host fault tests need network namespaces: {exc}", pytrace=False)
    broker = request.cls.broker
    with hosts_env(tmp_path_factory.mktemp(f"hosts-{broker}"), broker) as env:
        yield env


def assert_one_record_each(env: HostsEnv, result: Outcome) -> None:
    """Every item of the batch has exactly one processing (lineage) record."""
    assert_accounted(result)
    [(records,)] = query(env.stack, "select count(*) from processing_results where job_id = :j",
                         j=result.job_id)
    assert records == result.total, (records, result)


def test_without_iproute2_the_host_tests_say_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(NetnsUnavailable, match="iproute2"):
        require_netns()


class HostFaults:
    broker: str

    def test_host_cut_off_and_back(self, hosts: HostsEnv) -> None:
        [result] = run_fault(hosts, "host cut off", HOST_FAULTS)
        checks = result.api_checks
        print(f"\n{hosts.broker}: host {checks['host']} cut off for {checks['down_seconds']} s;"
              f" its items ran again {checks['victim_recovery_seconds']} s after the cut; back,"
              f" it ended them {checks['tried_seconds']} s after the link was up")
        assert_one_record_each(hosts, result)
        before, after = checks["before"], checks["after"]
        for seq, attempts in checks["attempts"].items():
            # Finished by the other worker, under a later claim, while the host was away.
            status, claimed, _token, result_id, _at, lineage = before[seq][1:]
            assert status == "completed" and claimed > attempts and result_id, before[seq]
            assert lineage == 1, before[seq]
        # Back on the network, the host ended what it held: its write refused by the claim's
        # fence, or the task cancelled by Celery on the lost broker connection; the worker
        # itself carries on (test_rabbitmq.py: RabbitMQ may still hold its old connection) ...
        print(f"back: {checks['back']}")
        assert set(checks["back"]) == set(checks["attempts"]), checks["back"]
        assert not [how for how in checks["back"].values() if how.startswith("worker exited")], \
            checks["back"]
        # ... and changed nothing: same rows, same results, still one lineage record each.
        assert after == before

    def test_host_crashed(self, hosts: HostsEnv) -> None:
        [result] = run_fault(hosts, "kill -9 host", HOST_FAULTS)
        checks = result.api_checks
        print(f"\n{hosts.broker}: host {checks['host']} crashed; its items ran again "
              f"{checks['victim_recovery_seconds']} s later")
        assert len(checks["survivors"]) == 1, checks
        assert checks["killed"], checks
        assert_one_record_each(hosts, result)
        assert checks["victim_recovery_seconds"] is not None


class TestHostsRedis(HostFaults):
    broker = "redis"


class TestHostsRabbitMQ(HostFaults):
    broker = "rabbitmq"

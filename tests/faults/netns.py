"""Test hosts on one machine: a network namespace per host, each joined to a bridge in the
root namespace by a veth pair, on a private /24 this run creates (10.231.N.0/24).

The test process stays in the root namespace and reaches every host through the bridge (it
holds the subnet's .1). Cutting a host off is ``ip link set eth0 down`` on its side of the
pair: its established connections are left half-open, as a switch port or a cable failing
would leave them, rather than reset. Names carry a per-run id, so a run that crashed before
cleaning up cannot collide with the next one.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import uuid
from contextlib import suppress
from dataclasses import dataclass

SUBNET_PREFIX = "10.231"


class NetnsUnavailable(RuntimeError):
    pass


def ip(*argv: str) -> str:
    result = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(argv)}: {result.stderr.strip()}")
    return result.stdout


def require_netns() -> None:
    """Raise, naming what is missing, unless this process can create network namespaces."""
    if shutil.which("ip") is None:
        raise NetnsUnavailable("the host tests need iproute2's `ip` (apt-get install iproute2)")
    if os.geteuid() != 0:
        raise NetnsUnavailable("the host tests need root to create network namespaces")
    probe = f"bsv-probe-{uuid.uuid4().hex[:6]}"
    try:
        ip("netns", "add", probe)
    except RuntimeError as exc:
        raise NetnsUnavailable(f"`ip netns add` does not work here: {exc}") from exc
    ip("netns", "del", probe)


def _free_subnet() -> str:
    used = {line.split()[3].rsplit(".", 1)[0] for line in ip("-o", "-4", "addr").splitlines()}
    free = [f"{SUBNET_PREFIX}.{n}" for n in range(1, 255) if f"{SUBNET_PREFIX}.{n}" not in used]
    if not free:
        raise RuntimeError(f"every {SUBNET_PREFIX}.N.0/24 is in use on this machine")
    return random.choice(free)


@dataclass
class Host:
    name: str
    netns: str
    address: str
    root_link: str  # the bridge's end of the pair; the host's end is eth0

    @property
    def wrap(self) -> tuple[str, ...]:
        """Prefix of a command that runs it on this host."""
        return ("ip", "netns", "exec", self.netns)

    def cut(self) -> None:
        ip("-n", self.netns, "link", "set", "eth0", "down")

    def restore(self) -> None:
        ip("-n", self.netns, "link", "set", "eth0", "up")

    def pids(self) -> list[int]:
        return [int(pid) for pid in ip("netns", "pids", self.netns).split()]

    def kill(self) -> list[int]:
        """SIGKILL every process on the host (a crashed machine); the pids killed."""
        pids = self.pids()
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids


class Network:
    """A bridge and one namespace per name in ``hosts`` (addresses .10, .11, …)."""

    def __init__(self, hosts: tuple[str, ...]) -> None:
        require_netns()
        run = uuid.uuid4().hex[:6]
        self.subnet = _free_subnet()
        self.bridge = f"bsv{run}br"
        self.gateway = f"{self.subnet}.1"
        self.hosts: dict[str, Host] = {}
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
            for n, name in enumerate(hosts):
                host = self.hosts[name] = Host(name, f"bsv-{run}-{name}",
                                               f"{self.subnet}.{10 + n}",
                                               f"bsv{run}{name}"[:15])
                self._add_host(host)
        except BaseException:
            self.close()
            raise

    def _add_host(self, host: Host) -> None:
        ip("netns", "add", host.netns)
        ip("-n", host.netns, "link", "set", "lo", "up")  # Erlang, Postgres' own checks
        ip("link", "add", host.root_link, "type", "veth", "peer", "name", "eth0", "netns",
           host.netns)
        ip("link", "set", host.root_link, "master", self.bridge, "up")
        ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        ip("-n", host.netns, "link", "set", "eth0", "up")

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def close(self) -> None:
        """Kill what still runs on each host, then delete namespaces, pairs and the bridge;
        safe to call after a partial setup or twice."""
        for host in self.hosts.values():
            with suppress(RuntimeError):
                host.kill()
            with suppress(RuntimeError):
                ip("netns", "del", host.netns)  # takes its end of the pair, and so both
            with suppress(RuntimeError):
                ip("link", "del", host.root_link)
        self.hosts.clear()
        with suppress(RuntimeError):
            ip("link", "del", self.bridge)

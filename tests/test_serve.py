"""The app started the way scripts/run-app.sh starts it (scripts/serve.sh) listens on 127.0.0.1 only:
its listening socket is bound to the loopback address, and this machine's other addresses refuse."""
from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from browser_fixtures import ROOT, START_TIMEOUT, free_port, stop_app

pytestmark = pytest.mark.slow  # starts a real server


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                if len(address) == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:  # IPv6: four little-endian 32-bit words
                    words = [bytes.fromhex(address[n:n + 8])[::-1] for n in range(0, 32, 8)]
                    found.add(socket.inet_ntop(socket.AF_INET6, b"".join(words)))
    return found


def outward_address() -> str | None:
    """This machine's address on its default route (a UDP 'connect' sends nothing), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_default_run_listens_on_loopback_only(sample_store: str, tmp_path: Path):
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "EXPLORER_STORE": sample_store}
    with log.open("wb") as out:
        process = subprocess.Popen(["bash", str(ROOT / "scripts" / "serve.sh"), "--server.port", str(port),
                                    "--server.fileWatcherType", "none"],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    assert response.read().strip() == b"ok"
                    break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        assert listening_addresses(port) == {"127.0.0.1"}
        address = outward_address()
        if address is not None:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((address, port), timeout=5).close()
        printed = log.read_text()
        assert f"http://127.0.0.1:{port} (listening on this machine only)" in printed
        assert "ssh -L" in printed and "EXPLORER_MODE=shared" in printed
    finally:
        stop_app(process)

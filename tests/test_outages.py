"""Servers that are down at the start or go away mid-session, and OpenAI failing
(429, timeouts, bad keys): each is a clear ExplorerError (StoreUnavailable,
ProviderError), a one-line `error:` from the CLI, and never shows an API key.

The shared PostgreSQL is never stopped: a TCP proxy in front of it is cut instead.
The Chroma server is this module's own, started and stopped by scripts/chroma-server.sh.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import traceback
from urllib.parse import urlsplit, urlunsplit

import pytest

from conftest import ROOT
from core.embedders import OpenAIEmbedder
from core.errors import ProviderError, StoreUnavailable
from core.pipeline import Upload, ingest
from core.stores import open_store
from core.types import ChunkSettings
from fake_openai import FakeOpenAI
from store_fixtures import free_port

KEY = "sk-reliability-DISTINCTIVE-7f3a9c"  # must never appear in a message, a log line or stderr


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=300)


def assert_one_error_line(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


# -- stores down at the start ----------------------------------------------------------------

@pytest.mark.parametrize("url, says", [
    ("postgresql://explorer:s3cret@127.0.0.1:{port}/explorer", "cannot reach PostgreSQL at 127.0.0.1:{port}"),
    ("chroma://127.0.0.1:{port}", "Chroma store at chroma://127.0.0.1:{port}: Could not connect"),
])
def test_cli_with_a_store_that_is_down(url, says):
    port = free_port()
    proc = cli("collections", "--store", url.format(port=port))
    assert_one_error_line(proc, says.format(port=port))
    assert "s3cret" not in proc.stderr


# -- PostgreSQL going away mid-session ---------------------------------------------------------

class Proxy:
    """A TCP proxy to the shared PostgreSQL that the test can cut (as if the server died) and restore."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._listener is not None:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone would not
            self._listener.close()
            self._listener = None
        for s in self._sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self._sockets.clear()


@pytest.mark.postgres
def test_postgres_going_away_mid_session_then_coming_back(postgres_url, new_name, long_docs_corpus, minilm):
    parts = urlsplit(postgres_url)
    proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    proxy.start()
    url = urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}"))
    try:
        store = open_store(url)
        name = new_name(open_store(postgres_url))  # cleaned up through the direct URL
        collection = store.open_collection(name, long_docs_corpus.embedder)
        collection.upsert(long_docs_corpus.chunks[:10], long_docs_corpus.embeddings[:10])
        proxy.cut()
        for operation in (collection.count, lambda: collection.keyword_search("Bennet", 3),
                          lambda: collection.vector_search(long_docs_corpus.embeddings[0], 3),
                          lambda: ingest([Upload("late.txt", b"Arrives while the server is down.")],
                                         collection, minilm, ChunkSettings())):
            with pytest.raises(StoreUnavailable, match=f"cannot reach PostgreSQL at 127.0.0.1:{proxy.port}"):
                operation()
        proxy.start()
        assert collection.count() == 10  # nothing half-written; the next call reconnects
        assert collection.keyword_search("Bennet", 3)
    finally:
        proxy.cut()


# -- a Chroma server going away mid-session ----------------------------------------------------

def chroma_server(action: str, port: int, path: str) -> str:
    done = subprocess.run([str(ROOT / "scripts" / "chroma-server.sh"), action, "--port", str(port), "--path", path],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.chroma_server
@pytest.mark.slow
def test_chroma_server_going_away_mid_session_then_coming_back(tmp_path, long_docs_corpus):
    port, path = free_port(), str(tmp_path / "chroma-server")
    url = chroma_server("start", port, path)
    try:
        store = open_store(url)
        collection = store.open_collection("outage", long_docs_corpus.embedder)
        collection.upsert(long_docs_corpus.chunks[:10], long_docs_corpus.embeddings[:10])
        chroma_server("stop", port, path)
        for operation in (collection.count, store.list_collections,
                          lambda: collection.keyword_search("Bennet", 3),
                          lambda: collection.vector_search(long_docs_corpus.embeddings[0], 3),
                          lambda: collection.upsert(long_docs_corpus.chunks[10:12], long_docs_corpus.embeddings[10:12])):
            with pytest.raises(StoreUnavailable, match=f"lost the Chroma server at {url}"):
                operation()
        chroma_server("start", port, path)
        assert collection.count() == 10 and collection.keyword_search("Bennet", 3)
    finally:
        chroma_server("stop", port, path)


# -- OpenAI: rate limits, timeouts, keys -------------------------------------------------------

def openai_embedder(server: FakeOpenAI, key: str = KEY, timeout: float = 60.0) -> OpenAIEmbedder:
    return OpenAIEmbedder("text-embedding-3-small", 1536, "openai-small", key, server.base_url, timeout=timeout)


def test_openai_429_is_retried_then_succeeds():
    with FakeOpenAI(api_key=KEY, fail_with=429, failures=2) as server:
        vectors = openai_embedder(server).embed(["first", "second"])
    assert vectors.shape == (2, 1536) and len(server.requests) == 3


def test_openai_429_that_persists_is_a_clear_message():
    with FakeOpenAI(api_key=KEY, fail_with=429) as server:
        with pytest.raises(ProviderError, match="kept refusing with 429"):
            openai_embedder(server).embed(["hello"])
    assert len(server.requests) == 3  # the first try and two retries


def test_openai_timeout_is_a_clear_message():
    with FakeOpenAI(api_key=KEY, delay=1.5) as server:
        with pytest.raises(ProviderError, match=r"did not answer within 0.3 s"):
            openai_embedder(server, timeout=0.3).embed(["hello"])


@pytest.mark.parametrize("failure", ["wrong key", "server error", "rate limit", "unreachable"])
def test_the_api_key_never_reaches_messages_or_logs(failure, caplog):
    caplog.set_level(logging.DEBUG)  # the openai, httpx and httpcore loggers included
    kinds = {"wrong key": dict(api_key="sk-the-right-one"), "server error": dict(api_key=KEY, fail_with=500),
             "rate limit": dict(api_key=KEY, fail_with=429), "unreachable": dict(api_key=KEY)}
    with FakeOpenAI(**kinds[failure]) as server:
        embedder = openai_embedder(server)
        if failure == "unreachable":
            embedder = OpenAIEmbedder("text-embedding-3-small", 1536, "openai-small", KEY, "http://127.0.0.1:9/v1")
        with pytest.raises(ProviderError) as failed:
            embedder.embed(["hello"])
    shown = "".join(traceback.format_exception(failed.value)) + repr(failed.value) + caplog.text
    assert caplog.records, "DEBUG logging was captured"
    assert KEY not in shown and KEY[-6:] not in shown


def test_cli_with_a_rejected_key_says_so_without_the_key(tmp_path):
    document = tmp_path / "note.txt"
    document.write_text("A short note to embed.", encoding="utf-8")
    with FakeOpenAI(api_key="sk-the-right-one") as server:
        proc = cli("ingest", str(document), "--store", str(tmp_path / "store"), "--collection", "remote",
                   "--embedder", "openai-small",
                   env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url, "OPENAI_LOG": "debug"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: OpenAI rejected the API key (OPENAI_API_KEY); check it and retry"]
    assert KEY not in proc.stderr + proc.stdout and KEY[-6:] not in proc.stderr + proc.stdout
    assert server.requests and server.requests[0]["authorization"] == f"Bearer {KEY}"  # it was really sent


@pytest.fixture
def silent_server():
    """A socket that accepts connections and never answers (issue 20: such a Chroma server hung
    `collections` for minutes)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_chroma_server_that_never_answers_is_given_up_on_in_bounded_time(silent_server, monkeypatch):
    url = f"chroma://127.0.0.1:{silent_server}"
    proc = cli("collections", "--store", url, env={"EXPLORER_CHROMA_TIMEOUT": "1"})
    assert_one_error_line(proc, f"the Chroma server at 127.0.0.1:{silent_server} did not answer within 1 s",
                          "EXPLORER_CHROMA_TIMEOUT")
    monkeypatch.setenv("EXPLORER_CHROMA_TIMEOUT", "0.5")
    with pytest.raises(StoreUnavailable, match="did not answer within 0.5 s"):
        open_store(url)


@pytest.fixture
def server_that_stops_answering():
    """An HTTP server that answers the calls chromadb's client makes while it is being made (heartbeat,
    identity, tenant, database), then never answers another: the read timeout chromadb's client is given
    (on its private session: chromadb offers no setting) is what ends the wait."""
    import http.server
    import json as json_

    handshake = {"/api/v2/heartbeat": {"nanosecond heartbeat": 1},
                 "/api/v2/auth/identity": {"user_id": "", "tenant": "default_tenant",
                                           "databases": ["default_database"]},
                 "/api/v2/tenants/default_tenant": {"name": "default_tenant"},
                 "/api/v2/tenants/default_tenant/databases/default_database": {
                     "id": "00000000-0000-0000-0000-000000000000", "name": "default_database",
                     "tenant": "default_tenant"}}
    release = threading.Event()
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            asked.append(path)
            if path not in handshake:
                release.wait(60)  # accepted, read, never answered
                return
            body = json_.dumps(handshake[path]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], asked
    release.set()
    server.shutdown()
    server.server_close()


def test_a_chroma_server_that_stops_answering_after_the_handshake_fails_within_the_timeout(
        server_that_stops_answering, monkeypatch):
    port, asked = server_that_stops_answering
    monkeypatch.setenv("EXPLORER_CHROMA_TIMEOUT", "0.5")
    with pytest.raises(StoreUnavailable, match=rf"the Chroma server at chroma://127.0.0.1:{port} did not answer "
                                               r"within 0.5 s \(set EXPLORER_CHROMA_TIMEOUT to wait longer\)"):
        open_store(f"chroma://127.0.0.1:{port}").list_collections()
    assert asked[0] == "/api/v2/heartbeat" and asked[-1].endswith("/collections")  # the handshake went through

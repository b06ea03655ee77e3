"""A local HTTP server speaking OpenAI's embeddings wire format, for the real SDK.

The real endpoint is unreachable from the test machines; this stands in for it
and records each request so tests can check batching and authentication.
Vectors are deterministic per text (seeded by its hash), so equal texts embed
equally and different texts differently. Outages: `fail_with` answers every
request (or only the first `failures`) with that HTTP status, a 429 with a short
Retry-After as OpenAI sends it; `delay` holds each answer back that many seconds.
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

# OpenAI's models, and models an OpenAI-compatible server (Ollama, vLLM, TEI) might serve.
DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "nomic-embed-text": 768,
              "e5-small-v2": 384}


def vector_for(text: str, dimension: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)


class FakeOpenAI:
    def __init__(self, api_key: str = "sk-test-key", fail_with: int | None = None, failures: int | None = None,
                 delay: float = 0.0):
        self.api_key = api_key
        self.fail_with = fail_with
        self.failures = failures  # None: every request fails with fail_with
        self.delay = delay
        self.requests: list[dict] = []
        self.in_flight = 0       # embedding requests being answered right now
        self.most_in_flight = 0  # the most at once: what a client's concurrency bound is checked against
        self._count_lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body,
                                        "authorization": self.headers.get("Authorization")})
                if self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._send(401, {"error": {"message": "Incorrect API key provided",
                                                      "type": "invalid_request_error", "code": "invalid_api_key"}})
                with server._count_lock:
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    if server.delay:
                        time.sleep(server.delay)
                finally:
                    with server._count_lock:
                        server.in_flight -= 1
                failed = sum(r.get("failed", False) for r in server.requests)
                if server.fail_with and (server.failures is None or failed < server.failures):
                    server.requests[-1]["failed"] = True
                    if server.fail_with == 429:
                        return self._send(429, {"error": {"message": "Rate limit reached", "type": "requests",
                                                          "code": "rate_limit_exceeded"}},
                                          {"retry-after-ms": "20"})
                    return self._send(server.fail_with, {"error": {"message": "boom", "type": "server_error"}})
                if not self.path.endswith("/embeddings"):
                    return self._send(404, {"error": {"message": "not found"}})
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                if len(inputs) > 2048:
                    return self._send(400, {"error": {"message": "too many inputs", "type": "invalid_request_error"}})
                dimension = DIMENSIONS[body["model"]]
                data = []
                for i, text in enumerate(inputs):
                    vec = vector_for(text, dimension)
                    if body.get("encoding_format") == "base64":
                        embedding = base64.b64encode(vec.tobytes()).decode()
                    else:
                        embedding = vec.tolist()
                    data.append({"object": "embedding", "index": i, "embedding": embedding})
                data.reverse()  # the API does not promise order; clients must sort by index
                self._send(200, {"object": "list", "data": data, "model": body["model"],
                                 "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}})

            def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

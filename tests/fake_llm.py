"""A local HTTP server speaking Anthropic's Messages API and OpenAI's chat
completions (streamed SSE and plain JSON), for the real SDKs.

The real endpoints are unreachable from the test machines. The fake records
every request, and answers from what it was sent: it cites the first document
number it finds in the context, so a test can tell the prompt carried it. It
misbehaves on request: a wrong key gets 401, `failures` requests in a row get
`fail_status` (429 with retry-after 0, or 5xx) before it answers, `hang`
seconds of silence before answering (longer than a client's timeout), or
`break_after` words streamed before the connection drops. `pace` seconds between streamed
words make an answer slow to write, as a real model's is.
"""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DOC_NUMBER = re.compile(r'<doc n="(\d+)"')


def answer_for(prompt: str) -> str:
    """What the fake model says: cites the first document in the context, or says there is none."""
    match = DOC_NUMBER.search(prompt)
    if not match:
        return "The context does not contain the answer."
    return f"The answer is in document {match.group(1)} [{match.group(1)}]."


def _text_of(content) -> str:
    """A message's content as text, whether a string or a list of content blocks."""
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content)


class FakeLLM:
    def __init__(self, api_key: str = "sk-test-key", failures: int = 0, fail_status: int = 429,
                 hang: float = 0.0, break_after: int | None = None, pace: float = 0.0):
        self.api_key = api_key
        self.failures, self.fail_status = failures, fail_status
        self.hang, self.break_after, self.pace = hang, break_after, pace
        self.requests: list[dict] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                try:
                    self._answer()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (its timeout): nothing to answer

            def _answer(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append({"path": self.path, "body": body, "headers": headers})
                given = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
                if given != server.api_key:
                    return self._json(401, {"type": "error", "error": {
                        "type": "authentication_error", "message": "invalid x-api-key", "code": "invalid_api_key"}})
                if server.failures > 0:
                    server.failures -= 1
                    kind = "rate_limit_error" if server.fail_status == 429 else "api_error"
                    return self._json(server.fail_status, {"type": "error", "error": {"type": kind, "message": "busy"}},
                                      {"retry-after": "0", "retry-after-ms": "10"})
                if server.hang and server._stop.wait(server.hang):
                    return
                if self.path.endswith("/messages"):
                    return self._anthropic(body)
                if self.path.endswith("/chat/completions"):
                    return self._openai(body)
                self._json(404, {"error": {"message": "not found"}})

            def _words(self, text: str) -> list[str]:
                words = re.findall(r"\S+\s*", text)
                return words if server.break_after is None else words[:server.break_after]

            def _anthropic(self, body: dict) -> None:
                text = answer_for(_text_of(body["messages"][-1]["content"]))
                message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"],
                           "content": [], "stop_reason": None, "stop_sequence": None,
                           "usage": {"input_tokens": 10, "output_tokens": 0}}
                if not body.get("stream"):
                    return self._json(200, {**message, "content": [{"type": "text", "text": text}],
                                            "stop_reason": "end_turn"})
                events = [("message_start", {"type": "message_start", "message": message}),
                          ("content_block_start", {"type": "content_block_start", "index": 0,
                                                   "content_block": {"type": "text", "text": ""}})]
                events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                    "delta": {"type": "text_delta", "text": word}})
                           for word in self._words(text)]
                if server.break_after is None:
                    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
                               ("message_delta", {"type": "message_delta",
                                                  "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                                  "usage": {"output_tokens": 12}}),
                               ("message_stop", {"type": "message_stop"})]
                self._sse([f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events])

            def _openai(self, body: dict) -> None:
                text = answer_for(_text_of(body["messages"][-1]["content"]))
                base = {"id": "chatcmpl-fake", "created": 0, "model": body["model"]}
                if not body.get("stream"):
                    return self._json(200, {**base, "object": "chat.completion", "choices": [{
                        "index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})

                def chunk(delta: dict, finish: str | None = None) -> str:
                    payload = {**base, "object": "chat.completion.chunk",
                               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                    return f"data: {json.dumps(payload)}\n\n"

                events = [chunk({"role": "assistant", "content": ""})]
                events += [chunk({"content": word}) for word in self._words(text)]
                if server.break_after is None:
                    events += [chunk({}, "stop"), "data: [DONE]\n\n"]
                self._sse(events)

            def _sse(self, events: list[str]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for n, event in enumerate(events):
                    if n and server.pace and server._stop.wait(server.pace):
                        return
                    raw = event.encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
                    self.wfile.flush()
                if server.break_after is None:
                    self.wfile.write(b"0\r\n\r\n")
                self.close_connection = True  # a broken stream ends without the closing chunk

            def _json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        origin = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.anthropic_base_url = origin  # the Anthropic SDK adds /v1/messages
        self.openai_base_url = f"{origin}/v1"  # the OpenAI SDK adds /chat/completions
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

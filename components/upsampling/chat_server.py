"""A small OpenAI-compatible chat-completions server on loopback, in front of any object with
`reply(messages, *, temperature, top_p, max_new_tokens) -> str` (a CausalLMRewriter), so that
the local rewriter can serve any client that speaks OpenAI's chat API, and
OpenAIChatRewriter can be tried against a real model without the network.

    rewriter = CausalLMRewriter("data/models/upsampler")
    with serve_chat_completions(rewriter, "upsampler") as server:
        client = OpenAIChatRewriter(server.base_url, "upsampler")   # base_url: http://127.0.0.1:PORT/v1
        client("a red circle")

Routes:
- POST /v1/chat/completions: {messages, temperature?, top_p?, max_tokens?, n?} answered as a
  chat completion {id, object: "chat.completion", created, model, choices: [{index, message:
  {role: "assistant", content}, finish_reason: "stop"}], usage}. The replier does not count
  tokens, so usage holds zeros. Streaming is not served.
- GET /v1/models: the one model, named `model_name`; the request's model name is not checked.
- Anything else is 404; a body that is not JSON, or messages that are not a list of {role,
  content} strings, is 400; a replier that raises is 500. Errors come as OpenAI's
  {"error": {"message", "type"}}.

With `api_key` set, every request must carry `Authorization: Bearer <api_key>` (else 401).

The stdlib's ThreadingHTTPServer runs in a daemon thread and answers each request in its own
thread (the CausalLMRewriter serialises its calls itself); it logs nothing per request. It is
meant for loopback: there is no TLS and no rate limit.
"""

from __future__ import annotations

import hmac
import json
import logging
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

MAX_BODY = 1 << 20  # bytes: a chat for one prompt is a few kilobytes
MAX_CHOICES = 16
POLL_S = 0.05  # how often the serving loop looks for close(), the longest close() waits for it

log = logging.getLogger(__name__)


class ChatReplier(Protocol):
    def reply(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float | None,
        top_p: float | None,
        max_new_tokens: int | None,
    ) -> str: ...


class ChatServer:
    """A running server; a context manager that closes it on exit."""

    def __init__(self, server: ThreadingHTTPServer, model_name: str) -> None:
        self._server = server
        self.model_name = model_name
        host, port = server.server_address[:2]
        self.base_url = f"http://{host}:{port}/v1"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_S},
            name="chat-completions-server",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stops answering and frees the port; requests still being answered finish in their threads."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> ChatServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_chat_completions(
    replier: ChatReplier, model_name: str, host: str = "127.0.0.1", port: int = 0, *, api_key: str | None = None
) -> ChatServer:
    """Starts serving `replier` at http://host:port/v1 (port 0: a free one) and returns the server."""
    handler = type("Handler", (_Handler,), {"replier": replier, "model_name": model_name, "api_key": api_key})
    return ChatServer(_Server((host, port), handler), model_name)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # closing does not wait on a slow reply

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (its own timeout ran out) is routine; anything else goes to the log,
        not to stderr as socketserver would print it."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("chat client %s went away: %s", client_address, error)
        else:
            log.exception("chat-completions server failed on a request from %s", client_address)


class _BadRequest(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    replier: ChatReplier
    model_name: str
    api_key: str | None
    protocol_version = "HTTP/1.1"  # keep-alive for clients that pool connections
    timeout = 30  # seconds an idle kept-alive connection holds its thread

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no request lines on stderr

    def do_GET(self) -> None:
        if not self._authorised():
            return
        if self.path.rstrip("/") == "/v1/models":
            model = {"id": self.model_name, "object": "model", "created": 0, "owned_by": "recap"}
            self._send(200, {"object": "list", "data": [model]})
        else:
            self._error(404, f"no route GET {self.path}", "not_found_error")

    def do_POST(self) -> None:
        body = self._read_body()
        if not self._authorised():
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route POST {self.path}", "not_found_error")
            return
        try:
            messages, settings, n = _read_request(body)
        except _BadRequest as error:
            self._error(400, str(error), "invalid_request_error")
            return
        try:
            texts = [self.replier.reply(messages, **settings) for _ in range(n)]
        except Exception as error:  # the replier's failure is the client's 500, not a dead connection
            self._error(500, f"the model failed: {type(error).__name__}: {error}", "server_error")
            return
        self._send(200, _completion(self.model_name, texts))

    def _read_body(self) -> bytes | None:
        """The request's body; None when its length is missing, wrong or too large."""
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True  # an unread body would be taken for the next request
            return None
        return self.rfile.read(length)

    def _authorised(self) -> bool:
        if self.api_key is None:
            return True
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {self.api_key}".encode()):
            return True
        self._error(401, "missing or wrong API key", "authentication_error")
        return False

    def _error(self, status: int, message: str, kind: str) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    def _send(self, status: int, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _read_request(body: bytes | None) -> tuple[list[dict[str, str]], dict[str, Any], int]:
    """The chat, the sampling settings (None: the replier's own) and the number of choices."""
    if body is None:
        raise _BadRequest(f"the request needs a JSON body of at most {MAX_BODY} bytes with a Content-Length")
    try:
        request = json.loads(body)
    except ValueError as error:
        raise _BadRequest(f"the body is not JSON: {error}") from None
    if not isinstance(request, dict):
        raise _BadRequest("the body must be a JSON object")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("'messages' must be a non-empty list of {role, content} objects")
    for m in messages:
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            raise _BadRequest(f"each message needs a string role and content, got {m!r}"[:200])
    if request.get("stream"):
        raise _BadRequest("streaming is not supported")
    settings = {
        "temperature": _number(request, "temperature", 0, 2),
        "top_p": _number(request, "top_p", 0, 1),
        "max_new_tokens": _count(request, "max_completion_tokens") or _count(request, "max_tokens"),
    }
    n = _count(request, "n") or 1
    if n > MAX_CHOICES:
        raise _BadRequest(f"'n' must be at most {MAX_CHOICES}, got {n}")
    chat = [{"role": m["role"], "content": m["content"]} for m in messages]
    return chat, settings, n


def _number(request: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = request.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _BadRequest(f"'{key}' must be a number in [{low}, {high}], got {value!r}")
    if key == "top_p" and value == 0:
        raise _BadRequest("'top_p' must be above 0")
    return float(value)


def _count(request: dict[str, Any], key: str) -> int | None:
    value = request.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _BadRequest(f"'{key}' must be an integer >= 1, got {value!r}")
    return value


def _completion(model_name: str, texts: list[str]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            for i, text in enumerate(texts)
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }

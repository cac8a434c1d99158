"""Any OpenAI-compatible chat-completions endpoint as a prompt rewriter: OpenAI itself, a
vLLM or llama.cpp server, or this package's own chat_server.py in front of a local model.

    rewriter = OpenAIChatRewriter("http://127.0.0.1:8000/v1", "upsampler")
    rewriter("a red circle")   # one sampled rewrite, a str

One call POSTs {model, messages, temperature, top_p, max_tokens, n: 1} to
`{base_url}/chat/completions`, the messages being chat.py's system and user turns, and returns
choices[0].message.content, stripped. The stdlib's urllib does the HTTP, so the backend adds
no dependency.

The API key is read from the environment variable `api_key_env` at each call and sent as
`Authorization: Bearer <key>` when set; it is never stored on the object, logged or put in an
error. A local server may need no key; OpenAI's API does, so a base URL on api.openai.com
without the variable set fails at construction rather than at the first prompt.

Every failure raises `ChatEndpointError` naming the URL: the server is down or refuses the
connection, gives no answer within `timeout_s` (`ChatEndpointTimeout`, also a TimeoutError),
answers an HTTP status other than 200 (with the start of its body), or answers something that
is not a chat completion. The guard (guard.py) counts each as a failed attempt and in the end
draws from the user's own prompt. `timeout_s` bounds each socket operation, so a server that
trickles bytes can take longer; the guard's own timeout bounds the whole call.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from .chat import SYSTEM_PROMPT, chat_messages, check_sampling

_EXCERPT = 200  # characters of an error body kept in the message


class ChatEndpointError(RuntimeError):
    """A chat-completions endpoint could not give a rewrite; the message names the URL."""


class ChatEndpointTimeout(ChatEndpointError, TimeoutError):
    """The endpoint gave no answer within the rewriter's timeout."""


class OpenAIChatRewriter:
    """A rewriter that asks an OpenAI-compatible chat-completions endpoint; see the module."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        system_prompt: str = SYSTEM_PROMPT,
        temperature: float = 0.8,
        top_p: float = 0.95,
        max_tokens: int = 160,
        timeout_s: float = 30.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {base_url!r}")
        if not model:
            raise ValueError("model must name the endpoint's model, got an empty name")
        check_sampling(temperature, top_p, max_tokens, "max_tokens")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        if parts.hostname == "api.openai.com" and not os.environ.get(api_key_env):
            raise ValueError(f"{base_url} needs an API key: set the environment variable {api_key_env}")
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.system_prompt = system_prompt
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s

    @property
    def name(self) -> str:
        return f"openai-chat: {self.model} at {self.base_url}"

    def __call__(self, prompt: str) -> str:
        body = {
            "model": self.model,
            "messages": chat_messages(prompt, self.system_prompt),
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "n": 1,
        }
        return _content(self.url, self._post(body))

    def _post(self, body: dict[str, Any]) -> bytes:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as error:  # a status urllib treats as failure (4xx, 5xx)
            raise ChatEndpointError(f"{self.url} answered HTTP {error.code}: {_excerpt(_body(error))}") from None
        except TimeoutError as error:
            raise ChatEndpointTimeout(f"{self.url} gave no answer within {self.timeout_s} s") from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise ChatEndpointTimeout(f"{self.url} gave no answer within {self.timeout_s} s") from error
            raise ChatEndpointError(f"cannot reach {self.url}: {error.reason}") from error
        except (OSError, ValueError) as error:  # a connection reset, a malformed answer
            raise ChatEndpointError(f"cannot talk to {self.url}: {type(error).__name__}: {error}") from error
        if status != 200:  # a 2xx urllib lets through, still not a completion
            raise ChatEndpointError(f"{self.url} answered HTTP {status}: {_excerpt(data)}")
        return data


def _content(url: str, data: bytes) -> str:
    """choices[0].message.content of a chat completion, stripped; anything else raises."""
    try:
        answer = json.loads(data)
    except ValueError:  # also a body that is not UTF-8
        raise ChatEndpointError(f"{url} answered something other than JSON: {_excerpt(data)}") from None
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ChatEndpointError(f"{url} answered JSON without choices[0].message.content: {_excerpt(data)}") from None
    if not isinstance(content, str):
        raise ChatEndpointError(f"{url} answered a message whose content is {type(content).__name__}, not text")
    return content.strip()


def _body(error: urllib.error.HTTPError) -> bytes:
    """The error's body, or nothing where reading it fails too."""
    try:
        return error.read()
    except OSError:
        return b""


def _excerpt(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace").strip()
    return repr(text[:_EXCERPT] + ("..." if len(text) > _EXCERPT else ""))

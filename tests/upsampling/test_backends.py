"""The language-model backends: a saved transformers causal LM (CausalLMRewriter), an
OpenAI-compatible endpoint (OpenAIChatRewriter) and the loopback server between them.

The models are tiny Llamas built here (model.py), saved into a temporary folder: one untrained,
whose samples are varied noise, and one trained on a single pair until it writes the pair's
long caption, the known answer both backends must give, the second one over real HTTP.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from components.upsampling.causal_lm import CausalLMRewriter, is_local_path
from components.upsampling.chat import SYSTEM_PROMPT, chat_messages
from components.upsampling.chat_server import ChatServer, serve_chat_completions
from components.upsampling.guard import guarded_rewrite
from components.upsampling.model import train_tokenizer
from components.upsampling.openai_chat import ChatEndpointError, ChatEndpointTimeout, OpenAIChatRewriter

SHORT, LONG = "a red circle", "A big red circle on a white background."
CONTEXT = 64  # the tokenizer's limit, below the preset's 256 positions: prompt_fits takes the smaller
KEY_ENV = "RECAP_TEST_CHAT_KEY"


def _save_tiny(folder: Path, train_steps: int = 0, chat_template: bool = True) -> Path:
    """A tiny Llama and its tokenizer saved in `folder`, trained `train_steps` steps on (SHORT, LONG)."""
    from components.upsampling.model import new_model

    tokenizer = train_tokenizer([SHORT, LONG, "a blue square in the top left corner"] * 10, 300, context=CONTEXT)
    model = new_model("tiny", tokenizer, seed=0)
    if train_steps:
        pair = [{"role": "user", "content": SHORT}, {"role": "assistant", "content": LONG}]
        ids = tokenizer.apply_chat_template(pair, return_dict=True, return_tensors="pt")["input_ids"]
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a 60k-parameter model: more threads only wait on each other
        try:
            for _ in range(train_steps):
                loss = model(input_ids=ids, labels=ids).loss
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        finally:
            torch.set_num_threads(threads)
        assert loss.item() < 0.1
    if not chat_template:
        tokenizer.chat_template = None
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def untrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_tiny(tmp_path_factory.mktemp("untrained"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_tiny(tmp_path_factory.mktemp("trained"), train_steps=80)


class Recorder:
    """A replier that records each chat and its settings and answers a fixed text, or waits first."""

    def __init__(self, answer: str = LONG, wait_s: float = 0.0) -> None:
        self.answer = answer
        self.wait_s = wait_s
        self.released = threading.Event()  # set at the end of a test, so that a waiting reply ends
        self.requests: list[tuple[list[dict[str, str]], dict[str, object]]] = []

    def reply(self, messages, *, temperature, top_p, max_new_tokens) -> str:
        self.requests.append((messages, {"temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens}))
        self.released.wait(self.wait_s)
        return self.answer


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    replier = Recorder()
    yield replier
    replier.released.set()


@pytest.fixture
def server(recorder: Recorder) -> Iterator[ChatServer]:
    with serve_chat_completions(recorder, "stub") as running:
        yield running


# ---------------------------------------------------------------- CausalLMRewriter


def test_the_rewriter_loads_a_saved_model_and_returns_text(untrained: Path):
    rewriter = CausalLMRewriter(untrained, max_new_tokens=12)
    text = rewriter(SHORT)
    assert isinstance(text, str) and text == text.strip()
    assert rewriter.name == f"transformers: {untrained}"


def test_a_seed_makes_the_sequence_of_calls_reproducible_and_leaves_the_global_rng(untrained: Path):
    state = torch.get_rng_state()
    first = CausalLMRewriter(untrained, seed=3, max_new_tokens=12)
    second = CausalLMRewriter(untrained, seed=3, max_new_tokens=12)
    texts = [first(SHORT) for _ in range(4)]
    assert texts == [second(SHORT) for _ in range(4)]
    assert len(set(texts)) > 1  # each call samples anew
    assert torch.equal(torch.get_rng_state(), state)


def test_without_a_seed_samples_vary(untrained: Path):
    rewriter = CausalLMRewriter(untrained, max_new_tokens=12)
    assert len({rewriter(SHORT) for _ in range(5)}) > 1


def test_rewrite_many_samples_k_texts_in_one_batch(untrained: Path):
    texts = CausalLMRewriter(untrained, seed=0, max_new_tokens=12).rewrite_many(SHORT, 4)
    assert len(texts) == 4 and all(isinstance(t, str) for t in texts)
    assert len(set(texts)) > 1


def test_prompt_fits_the_smaller_of_the_model_and_tokenizer_contexts(untrained: Path):
    rewriter = CausalLMRewriter(untrained)
    assert rewriter.context == CONTEXT
    assert rewriter.prompt_fits(SHORT)
    assert not rewriter.prompt_fits(" ".join(["circle"] * CONTEXT))


@pytest.mark.parametrize(
    ("model", "local"),
    [
        ("gpt2", False),
        ("Qwen/Qwen2.5-0.5B-Instruct", False),
        ("data/models/upsampler", True),
        ("./upsampler", True),
        ("~/upsampler", True),
        ("/models/upsampler", True),
        (Path("upsampler"), True),
    ],
)
def test_local_paths_are_told_from_hub_ids(model, local):
    assert is_local_path(model) is local


@pytest.fixture
def no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_pretrained fails the test: the error must come before anything loads."""
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("from_pretrained was called")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)


def test_a_missing_path_fails_before_loading(tmp_path: Path, no_loading: None):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        CausalLMRewriter(missing)
    with pytest.raises(FileNotFoundError, match="data/no-such/upsampler"):
        CausalLMRewriter("data/no-such/upsampler")


def test_a_folder_that_is_not_a_saved_model_is_named(tmp_path: Path, no_loading: None):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}.*no config.json"):
        CausalLMRewriter(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="weights.bin"):
        CausalLMRewriter(tmp_path / "weights.bin")


def test_a_tokenizer_without_a_chat_template_is_named(tmp_path: Path):
    folder = _save_tiny(tmp_path / "plain", chat_template=False)
    with pytest.raises(ValueError, match=f"{folder}.*no chat template"):
        CausalLMRewriter(folder)


# ---------------------------------------------------------------- both backends, one known answer


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"temperature": -0.1}, "temperature must be >= 0 (0 decodes greedily), got -0.1"),
        ({"top_p": 0.0}, "top_p must be in (0, 1], got 0.0"),
        ({"top_p": 1.5}, "top_p must be in (0, 1], got 1.5"),
        ({"tokens": 0}, "must be an integer >= 1, got 0"),
        ({"tokens": True}, "must be an integer >= 1, got True"),
    ],
)
def test_both_backends_refuse_sampling_settings_naming_them(settings: dict, says: str, no_loading: None):
    local = {"max_new_tokens" if k == "tokens" else k: v for k, v in settings.items()}
    remote = {"max_tokens" if k == "tokens" else k: v for k, v in settings.items()}
    with pytest.raises(ValueError) as raised:
        CausalLMRewriter("hub-org/some-model", **local)
    assert says in str(raised.value) and ("tokens" not in settings or "max_new_tokens" in str(raised.value))
    with pytest.raises(ValueError) as raised:
        OpenAIChatRewriter("http://127.0.0.1:9/v1", "stub", **remote)
    assert says in str(raised.value) and ("tokens" not in settings or "max_tokens" in str(raised.value))


def test_both_backends_give_the_trained_answer(trained: Path):
    rewriter = CausalLMRewriter(trained, temperature=0.1, seed=0, max_new_tokens=40)
    assert rewriter(SHORT) == LONG
    with serve_chat_completions(rewriter, "upsampler") as running:
        client = OpenAIChatRewriter(running.base_url + "/", "upsampler", temperature=0.1, max_tokens=40)
        assert client(SHORT) == LONG
        result = guarded_rewrite(SHORT, client, tries=2, timeout_s=10)
    assert (result.text, result.used_fallback, result.attempts) == (LONG, False, 1)


# ---------------------------------------------------------------- OpenAIChatRewriter


def test_the_request_carries_the_chat_settings_and_key(recorder: Recorder, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(KEY_ENV, "sesame")
    with serve_chat_completions(recorder, "stub", api_key="sesame") as locked:
        client = OpenAIChatRewriter(
            locked.base_url, "stub", api_key_env=KEY_ENV, temperature=0.5, top_p=0.9, max_tokens=33
        )
        assert client(SHORT) == LONG
        monkeypatch.delenv(KEY_ENV)
        with pytest.raises(ChatEndpointError, match=f"{locked.base_url}/chat/completions answered HTTP 401"):
            client(SHORT)
    messages, settings = recorder.requests[0]
    assert messages == [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": SHORT}]
    assert settings == {"temperature": 0.5, "top_p": 0.9, "max_new_tokens": 33}
    assert len(recorder.requests) == 1  # the unauthorised request never reached the model


def test_openai_without_a_key_fails_at_construction(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ValueError, match=KEY_ENV):
        OpenAIChatRewriter("https://api.openai.com/v1", "gpt-4o-mini", api_key_env=KEY_ENV)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_that_is_down_is_named():
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    client = OpenAIChatRewriter(url, "stub", timeout_s=2)
    with pytest.raises(ChatEndpointError, match=f"cannot reach {url}/chat/completions"):
        client(SHORT)
    result = guarded_rewrite(SHORT, client, tries=2, timeout_s=5)
    assert (result.text, result.used_fallback, result.attempts) == (SHORT, True, 2)
    assert "ChatEndpointError" in result.failures[0]


def test_a_slow_server_times_out(recorder: Recorder, server: ChatServer):
    recorder.wait_s = 10
    client = OpenAIChatRewriter(server.base_url, "stub", timeout_s=0.3)
    start = time.monotonic()
    with pytest.raises(ChatEndpointTimeout, match=f"{server.base_url}/chat/completions gave no answer within 0.3 s"):
        client(SHORT)
    assert time.monotonic() - start < 2
    start = time.monotonic()
    result = guarded_rewrite(SHORT, client, tries=2, timeout_s=5)
    assert (result.text, result.used_fallback) == (SHORT, True)
    assert time.monotonic() - start < 3
    assert issubclass(ChatEndpointTimeout, TimeoutError)


@pytest.fixture
def fixed_answer() -> Iterator[tuple[str, list[tuple[int, bytes]]]]:
    """A server that answers every request with the (status, body) last put in the list."""
    answers: list[tuple[int, bytes]] = []

    class Fixed(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            status, body = answers[-1]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Fixed)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", answers
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (200, b"<html>hello</html>", "something other than JSON: '<html>hello</html>'"),
        (200, b'{"answer": "A red circle."}', "without choices"),
        (200, b'{"choices": []}', "without choices"),
        (200, b'{"choices": [{"message": {"content": null}}]}', "content is NoneType"),
        (200, b"\xff\xfe", "something other than JSON"),
        (500, b"Internal Server Error: out of memory", "answered HTTP 500: 'Internal Server Error: out of memory'"),
        (202, b"{}", "answered HTTP 202"),
    ],
)
def test_a_server_answering_nonsense_is_named(fixed_answer, status: int, body: bytes, says: str):
    url, answers = fixed_answer
    answers.append((status, body))
    client = OpenAIChatRewriter(url, "stub", timeout_s=2)
    with pytest.raises(ChatEndpointError, match=f"^{url}/chat/completions") as raised:
        client(SHORT)
    assert says in str(raised.value)
    result = guarded_rewrite(SHORT, client, tries=2, timeout_s=5)
    assert (result.text, result.used_fallback) == (SHORT, True)


# ---------------------------------------------------------------- the server


def _request(server: ChatServer, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    host, port = server.base_url.removeprefix("http://").removesuffix("/v1").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_the_server_answers_a_chat_completion(server: ChatServer):
    body = json.dumps({"model": "any", "messages": chat_messages(SHORT), "n": 2}).encode()
    status, answer = _request(server, "POST", "/v1/chat/completions", body)
    assert status == 200
    assert (answer["object"], answer["model"]) == ("chat.completion", "stub")
    assert answer["choices"] == [
        {"index": i, "message": {"role": "assistant", "content": LONG}, "finish_reason": "stop"} for i in range(2)
    ]
    assert set(answer["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_the_server_lists_its_model(server: ChatServer):
    status, answer = _request(server, "GET", "/v1/models")
    assert status == 200
    assert [m["id"] for m in answer["data"]] == ["stub"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not JSON"),
        (b'{"model": "stub"}', "'messages' must be a non-empty list"),
        (b'{"messages": [{"role": "user"}]}', "string role and content"),
        (b'{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', "'temperature' must be a number"),
        (b'{"messages": [{"role": "user", "content": "x"}], "stream": true}', "streaming is not supported"),
    ],
)
def test_the_server_refuses_a_bad_request(server: ChatServer, recorder: Recorder, body: bytes, says: str):
    status, answer = _request(server, "POST", "/v1/chat/completions", body)
    assert status == 400
    assert answer["error"]["type"] == "invalid_request_error"
    assert says in answer["error"]["message"]
    assert recorder.requests == []


def test_the_server_answers_404_on_an_unknown_path(server: ChatServer):
    for method in ("GET", "POST"):
        status, answer = _request(server, method, "/v1/completions", b"{}")
        assert status == 404
        assert "/v1/completions" in answer["error"]["message"]


def test_a_failing_replier_is_a_500(server: ChatServer, recorder: Recorder, monkeypatch: pytest.MonkeyPatch):
    def fail(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(recorder, "reply", fail)
    status, answer = _request(
        server, "POST", "/v1/chat/completions", json.dumps({"messages": chat_messages(SHORT)}).encode()
    )
    assert status == 500
    assert answer["error"] == {
        "message": "the model failed: RuntimeError: out of memory",
        "type": "server_error",
        "param": None,
        "code": None,
    }

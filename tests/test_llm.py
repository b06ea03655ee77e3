"""core.llm through the official OpenAI and Anthropic SDKs against local fakes of their APIs."""
from __future__ import annotations

import socket
import time

import pytest

from core.errors import ProviderError
from core.llm import AnthropicLLM, Message, OpenAILLM, available_providers, make_llm
from fake_llm import FakeLLM

KEY = "sk-test-key"
PROMPT = '<context>\n<doc n="2" source="a.txt" category="">\nhello\n</doc>\n</context>\n\nQuestion: hi?'
HOSTED = ["openai", "anthropic"]


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


def llm_for(provider: str, fake: FakeLLM, **options):
    """The provider's LLM as make_llm builds it (key from the environment), pointed at the fake."""
    url = fake.openai_base_url if provider == "openai" else fake.anthropic_base_url
    return make_llm(provider, base_url=url, **{"timeout": 5.0, "max_retries": 2, **options})


def ask(llm) -> str:
    return "".join(llm.stream("You are terse.", [Message("user", PROMPT)]))


@pytest.mark.parametrize("provider", HOSTED)
def test_streams_the_answer_in_pieces_and_sends_system_and_key(provider, keys):
    with FakeLLM(api_key=KEY) as fake:
        llm = llm_for(provider, fake)
        deltas = list(llm.stream("You are terse.", [Message("user", "earlier"), Message("assistant", "reply"),
                                                      Message("user", PROMPT)]))
    assert "".join(deltas) == "The answer is in document 2 [2]."
    assert len(deltas) > 3  # streamed, not one block
    [request] = fake.requests
    body, headers = request["body"], request["headers"]
    assert body["stream"] is True
    if provider == "openai":
        assert request["path"] == "/v1/chat/completions" and body["model"] == "gpt-4o-mini"
        assert body["messages"][0] == {"role": "system", "content": "You are terse."}
        assert [m["role"] for m in body["messages"][1:]] == ["user", "assistant", "user"]
        assert headers["authorization"] == f"Bearer {KEY}"
    else:
        assert request["path"] == "/v1/messages" and body["model"] == "claude-sonnet-4-5"
        assert body["system"] == "You are terse." and body["max_tokens"] > 0
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
        assert KEY in (headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer "))
    assert llm.name.endswith(body["model"])


@pytest.mark.parametrize("provider", HOSTED)
def test_rate_limit_is_retried_until_it_passes(provider, keys):
    with FakeLLM(api_key=KEY, failures=2, fail_status=429) as fake:
        assert ask(llm_for(provider, fake, max_retries=2)) == "The answer is in document 2 [2]."
    assert len(fake.requests) == 3


@pytest.mark.parametrize("provider", HOSTED)
@pytest.mark.parametrize("fault, options, words", [
    ({"failures": 100, "fail_status": 429}, {}, ["rate-limiting", "429", "3 attempts"]),
    ({"failures": 100, "fail_status": 500}, {}, ["server error", "500"]),
    ({"api_key": "sk-the-right-one"}, {}, ["rejected the API key"]),
    ({"hang": 5.0}, {"timeout": 0.3, "max_retries": 1}, ["timed out", "0.3 s", "2 attempts"]),
    ({"break_after": 3}, {}, ["stopped mid-answer"]),
], ids=["always-429", "500", "bad-key", "timeout", "cut-off"])
def test_failures_become_a_clear_provider_error_without_the_key(provider, fault, options, words, keys):
    with FakeLLM(**fault) as fake:
        started = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            ask(llm_for(provider, fake, **options))
    message = str(caught.value)
    assert all(w in message for w in words), message
    assert ("OpenAI" if provider == "openai" else "Anthropic") in message
    assert KEY not in message and "sk-" not in message
    assert time.monotonic() - started < 4  # retries back off briefly (retry-after 0), timeouts are short


def test_unreachable_server_is_named(keys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = OpenAILLM("m", KEY, f"http://127.0.0.1:{port}/v1", timeout=1.0, max_retries=0)
    with pytest.raises(ProviderError, match="cannot reach OpenAI"):
        ask(llm)


def test_openai_compatible_server_works_without_a_key():
    with FakeLLM(api_key="not-needed") as fake:
        llm = make_llm("openai-compatible", model="llama3.2", base_url=fake.openai_base_url, timeout=5.0)
        assert isinstance(llm, OpenAILLM) and fake.openai_base_url in llm.name
        assert ask(llm) == "The answer is in document 2 [2]."
    assert fake.requests[0]["body"]["model"] == "llama3.2"


def test_available_providers_follow_the_keys(monkeypatch):
    assert available_providers() == ["extractive"]
    assert available_providers("http://localhost:11434/v1") == ["extractive", "openai-compatible"]
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    assert available_providers() == ["extractive", "anthropic"]
    assert isinstance(make_llm("anthropic"), AnthropicLLM)
    assert make_llm("extractive") is None


@pytest.mark.parametrize("provider, needs", [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY"),
                                             ("openai-compatible", "base URL")])
def test_missing_key_or_url_is_a_clear_error(provider, needs):
    with pytest.raises(ProviderError, match=needs):
        make_llm(provider)


def test_unknown_provider_is_refused():
    with pytest.raises(ProviderError, match="unknown provider 'gpt5'"):
        make_llm("gpt5")

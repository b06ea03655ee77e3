"""Language models that write answers, behind one streaming Protocol.

Three wire protocols cover the providers the app offers: Anthropic's Messages
API, OpenAI's chat completions, and the same chat completions served by a local
or self-hosted server (Ollama, vLLM, llama.cpp) at a base URL of its own. Each
goes through its official SDK, which retries 429s, 5xx and timeouts with
backoff; what is still failing after that becomes one ProviderError naming the
provider and the problem in words, never the key. The offline "extractive"
provider has no model at all: core.rag answers from the retrieved sentences.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Literal, Protocol, Sequence, runtime_checkable

from .config import get_secret
from .errors import ProviderError

DEFAULT_TIMEOUT = 60.0  # seconds per request, and between two streamed chunks
DEFAULT_RETRIES = 2
ANSWER_MAX_TOKENS = 1024
KEYLESS = "not-needed"  # OpenAI-compatible servers without authentication still need some key in the SDK


@dataclass(frozen=True)
class Message:
    """One turn of a conversation as sent to a model."""

    role: Literal["user", "assistant"]
    content: str


@runtime_checkable
class LLM(Protocol):
    """A chat model: `stream` yields the answer's text as it is written.

    Failures surface as ProviderError while iterating, possibly after some text.
    """

    name: str  # e.g. "OpenAI gpt-4o-mini": says which provider and model answered

    def stream(self, system: str, messages: Sequence[Message]) -> Iterator[str]: ...


@dataclass(frozen=True)
class ProviderSpec:
    """A provider the app and CLI can offer; `needs` is the secret without which it cannot run."""

    name: str
    label: str
    needs: str | None
    default_model: str | None


PROVIDERS: dict[str, ProviderSpec] = {spec.name: spec for spec in [
    ProviderSpec("extractive", "Extractive (offline)", None, None),
    ProviderSpec("openai", "OpenAI", "OPENAI_API_KEY", "gpt-4o-mini"),
    ProviderSpec("anthropic", "Anthropic", "ANTHROPIC_API_KEY", "claude-sonnet-4-5"),
    ProviderSpec("openai-compatible", "OpenAI-compatible server (Ollama, vLLM, llama.cpp)", None, "llama3.2"),
]}


def available_providers(base_url: str | None = None) -> list[str]:
    """Providers that can run now: extractive always, a hosted one when its key is set,
    the OpenAI-compatible one when a base URL is given."""
    names = ["extractive"]
    names += [n for n in ("openai", "anthropic") if get_secret(PROVIDERS[n].needs or "")]
    if base_url:
        names.append("openai-compatible")
    return names


def make_llm(provider: str, model: str | None = None, base_url: str | None = None,
             timeout: float = DEFAULT_TIMEOUT, max_retries: int = DEFAULT_RETRIES,
             api_key: str | None = None) -> LLM | None:
    """The model for `provider` (None for extractive), keys read from the environment or secrets.toml
    unless `api_key` is given (the shared app's configured endpoints and visitors' own keys)."""
    spec = PROVIDERS.get(provider)
    if spec is None:
        raise ProviderError(f"unknown provider '{provider}'; known: {', '.join(PROVIDERS)}")
    if provider == "extractive":
        return None
    model = model or spec.default_model or ""
    if provider == "openai-compatible":
        if not base_url:
            raise ProviderError("the OpenAI-compatible provider needs a base URL, "
                                "e.g. http://localhost:11434/v1 for Ollama")
        key = api_key or get_secret("OPENAI_COMPATIBLE_API_KEY") or KEYLESS
        return OpenAILLM(model, key, base_url, timeout, max_retries, label=f"server at {base_url}",
                         key_name="OPENAI_COMPATIBLE_API_KEY")
    key = api_key or get_secret(spec.needs or "")
    if not key:
        raise ProviderError(f"{spec.label} needs {spec.needs} (environment or .streamlit/secrets.toml); "
                            "the extractive provider works offline without it")
    if provider == "openai":
        return OpenAILLM(model, key, base_url or get_secret("OPENAI_BASE_URL"), timeout, max_retries)
    return AnthropicLLM(model, key, base_url or get_secret("ANTHROPIC_BASE_URL"), timeout, max_retries)


# What each SDK exception means, by class name (both SDKs share them); the first match wins,
# so subclasses come before their bases (a timeout is also a connection error).
_EXPLANATIONS = (
    ("AuthenticationError", "{label} rejected the API key ({key_name}); check it and retry"),
    ("PermissionDeniedError", "{label} refused access with this API key ({key_name}): no permission for this model"),
    ("RateLimitError", "{label} is rate-limiting requests (HTTP 429){after}; wait a minute and retry"),
    ("APITimeoutError", "{label} timed out: no answer within {timeout:g} s{after}"),
    ("APIConnectionError", "cannot reach {label}{after}; check the network or the base URL"),
    ("NotFoundError", "{label} does not know this model or endpoint (HTTP 404); check the model name"),
    ("InternalServerError", "{label} server error (HTTP {status}){after}"),
    ("APIStatusError", "{label} refused the request (HTTP {status})"),
)


def _provider_error(sdk, exc: Exception, label: str, key_name: str, timeout: float, retries: int) -> ProviderError:
    """The SDK's exception in words; the text never holds the key."""
    after = f" after {retries + 1} attempts" if retries else ""
    for class_name, template in _EXPLANATIONS:
        if isinstance(exc, getattr(sdk, class_name)):
            return ProviderError(template.format(label=label, key_name=key_name, after=after, timeout=timeout,
                                                 status=getattr(exc, "status_code", "?")))
    return ProviderError(f"{label} failed: {type(exc).__name__}")


def _guarded(deltas: Iterator[str], sdk, label: str, key_name: str, timeout: float,
             retries: int) -> Iterator[str]:
    """`deltas` with every failure turned into a ProviderError, including a stream cut off half way
    (the SDKs let the HTTP library's transport error through once the response has started)."""
    import httpx2  # the HTTP library both SDKs are built on

    written = 0
    try:
        for delta in deltas:
            written += len(delta)
            yield delta
    except (sdk.APIError, httpx2.TransportError) as exc:
        if written:
            raise ProviderError(f"{label} stopped mid-answer after {written} characters "
                                f"({type(exc).__name__}); ask again") from exc
        if isinstance(exc, httpx2.TransportError):
            raise ProviderError(f"the connection to {label} failed ({type(exc).__name__})") from exc
        raise _provider_error(sdk, exc, label, key_name, timeout, retries) from exc


class OpenAILLM:
    """Chat completions, streamed: OpenAI itself, or any server speaking the same API at `base_url`."""

    def __init__(self, model: str, api_key: str, base_url: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 max_retries: int = DEFAULT_RETRIES, label: str = "OpenAI", key_name: str = "OPENAI_API_KEY"):
        import openai

        self.model, self.label, self._key_name = model, label, key_name
        self.name = f"{label} {model}"
        self._timeout, self._retries = timeout, max_retries
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)

    def stream(self, system: str, messages: Sequence[Message]) -> Iterator[str]:
        import openai

        return _guarded(self._deltas(system, messages), openai, self.label, self._key_name, self._timeout,
                        self._retries)

    def _deltas(self, system: str, messages: Sequence[Message]) -> Iterator[str]:
        wire = [{"role": "system", "content": system}, *({"role": m.role, "content": m.content} for m in messages)]
        for chunk in self._client.chat.completions.create(model=self.model, messages=wire, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content


class AnthropicLLM:
    """Claude through the Messages API, streamed."""

    def __init__(self, model: str, api_key: str, base_url: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 max_retries: int = DEFAULT_RETRIES):
        import anthropic

        self.model, self.label = model, "Anthropic"
        self.name = f"Anthropic {model}"
        self._timeout, self._retries = timeout, max_retries
        self._client = anthropic.Anthropic(api_key=api_key, base_url=base_url, timeout=timeout,
                                           max_retries=max_retries)

    def stream(self, system: str, messages: Sequence[Message]) -> Iterator[str]:
        import anthropic

        return _guarded(self._deltas(system, messages), anthropic, self.label, "ANTHROPIC_API_KEY",
                        self._timeout, self._retries)

    def _deltas(self, system: str, messages: Sequence[Message]) -> Iterator[str]:
        wire = [{"role": m.role, "content": m.content} for m in messages]
        with self._client.messages.stream(model=self.model, max_tokens=ANSWER_MAX_TOKENS, system=system,
                                          messages=wire) as stream:
            yield from stream.text_stream

"""Embedding servers that speak OpenAI's wire format: Ollama, vLLM, Text Embeddings Inference, LM Studio.

Each endpoint is configured once, by name, in `.streamlit/secrets.toml`

    [embedding_endpoints.nomic]
    base_url = "http://127.0.0.1:11434/v1"
    model = "nomic-embed-text"
    api_key_env = "OLLAMA_API_KEY"   # optional: the secret holding the key, never the key itself

or in the environment as JSON (`EXPLORER_EMBEDDING_ENDPOINTS='{"nomic": {...}}'`), and is then the
embedder `endpoint:NAME` everywhere (CLI `--embedder endpoint:nomic`, the app's pickers, a Chroma
collection's saved embedding function). Only configured endpoints exist: nobody can point a server's
key at a URL typed in a browser. The dimension is read from a first call; batches go out with
bounded concurrency, which is how a corpus too big for this machine's CPU gets embedded elsewhere.

Models trained with instructions embed queries and documents differently: e5 wants "query: " and
"passage: ", nomic "search_query: " and "search_document: ", bge a sentence before the query.
`embed_query` / `embed_documents` add them (known models by name, or `query_prefix` /
`document_prefix` in the configuration).
"""
from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .config import get_secret, secrets_table
from .errors import EmbedderUnavailable, ProviderError
from .types import EmbedderInfo

PREFIX = "endpoint:"
KEYLESS = "not-needed"  # the SDK wants some key even for servers without authentication
# (query prefix, document prefix) by a word in the model's name, as each model's card asks.
KNOWN_PREFIXES = {
    "e5": ("query: ", "passage: "),
    "nomic-embed": ("search_query: ", "search_document: "),
    "bge": ("Represent this sentence for searching relevant passages: ", ""),
    "mxbai-embed": ("Represent this sentence for searching relevant passages: ", ""),
}


@dataclass(frozen=True)
class EndpointConfig:
    name: str
    base_url: str
    model: str
    api_key_env: str | None = None
    query_prefix: str | None = None
    document_prefix: str | None = None
    batch_size: int = 128
    concurrency: int = 4

    def prefixes(self) -> tuple[str, str]:
        known = next((p for word, p in KNOWN_PREFIXES.items() if word in self.model.lower()), ("", ""))
        return (known[0] if self.query_prefix is None else self.query_prefix,
                known[1] if self.document_prefix is None else self.document_prefix)


def configured_endpoints() -> dict[str, EndpointConfig]:
    """Endpoints from the secrets file's [embedding_endpoints] and $EXPLORER_EMBEDDING_ENDPOINTS (JSON)."""
    raw: dict[str, Any] = dict(secrets_table("embedding_endpoints"))
    if os.environ.get("EXPLORER_EMBEDDING_ENDPOINTS"):
        try:
            raw.update(json.loads(os.environ["EXPLORER_EMBEDDING_ENDPOINTS"]))
        except json.JSONDecodeError as exc:
            raise EmbedderUnavailable(f"EXPLORER_EMBEDDING_ENDPOINTS is not JSON ({exc.msg})") from exc
    endpoints = {}
    for name, settings in raw.items():
        if not isinstance(settings, dict) or not settings.get("base_url") or not settings.get("model"):
            raise EmbedderUnavailable(f"embedding endpoint '{name}' needs base_url and model")
        known = {k: settings[k] for k in EndpointConfig.__dataclass_fields__ if k in settings and k != "name"}
        endpoints[name] = EndpointConfig(name=name, **known)
    return endpoints


class EndpointEmbedder:
    """One configured endpoint through the official OpenAI SDK (see the module docstring)."""

    max_tokens = 8191

    def __init__(self, config: EndpointConfig, timeout: float = 60.0):
        import openai

        self.config = config
        self.name = PREFIX + config.name
        key = get_secret(config.api_key_env) if config.api_key_env else None
        self._client = openai.OpenAI(api_key=key or KEYLESS, base_url=config.base_url, max_retries=2,
                                     timeout=timeout)
        self._query_prefix, self._document_prefix = config.prefixes()
        self._dimension: int | None = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        """Read from the server once: one short request."""
        with self._lock:
            if self._dimension is None:
                self._dimension = int(self._request(["dimension"]).shape[1])
            return self._dimension

    @property
    def info(self) -> EmbedderInfo:
        return EmbedderInfo(self.name, self.dimension)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [max(1, len(t) // 4) for t in texts]  # no tokenizer for an arbitrary server's model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Documents (what ingest stores)."""
        return self.embed_documents(texts)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed([self._document_prefix + t for t in texts])

    def embed_query(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed([self._query_prefix + t for t in texts])

    def _embed(self, texts: list[str]) -> np.ndarray:
        from .minilm import normalise

        batches = [texts[lo:lo + self.config.batch_size] for lo in range(0, len(texts), self.config.batch_size)]
        if not batches:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with ThreadPoolExecutor(max_workers=max(1, self.config.concurrency)) as pool:
            parts = list(pool.map(self._request, batches))  # map keeps the batches in order
        vectors = normalise(np.vstack(parts))
        with self._lock:
            self._dimension = self._dimension or vectors.shape[1]
        return vectors

    def _request(self, texts: list[str]) -> np.ndarray:
        import openai

        where = f"the embedding endpoint '{self.config.name}' ({self.config.base_url})"
        try:
            response = self._client.embeddings.create(model=self.config.model,
                                                      input=[t if t.strip() else " " for t in texts])
        except openai.AuthenticationError as exc:
            raise ProviderError(f"{where} rejected the key ({self.config.api_key_env or 'none configured'})") from exc
        except openai.APIConnectionError as exc:
            raise ProviderError(f"cannot reach {where}: is the server running?") from exc
        except openai.APIError as exc:
            raise ProviderError(f"{where} failed: {type(exc).__name__} "
                                f"{getattr(exc, 'status_code', '') or ''}".strip()) from exc
        rows = sorted(response.data, key=lambda d: d.index)
        return np.array([r.embedding for r in rows], dtype=np.float32)


def embed_queries(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    """Queries through the embedder's query side where it has one (instruction-tuned models)."""
    return getattr(embedder, "embed_query", embedder.embed)(texts)

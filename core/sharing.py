"""Who may do what in the app: the sharing policy the pages ask before they offer anything.

On an analyst's own machine ("local" mode, the default) everything is open: any folder, Chroma
server or database, files by path on this machine, a typed base URL for a local LLM server.
A server that other people open runs in "shared" mode: stores, collections and LLM endpoints come
only from configuration, uploads are limited per file and per session and go only into collections
configured as writable, deletes only there, and a server key only ever goes to a configured endpoint.
Store URLs (which may hold a password) and keys stay in this process: the browser sees display names.

Configuration: EXPLORER_MODE=shared in the environment, or the [explorer] section of
.streamlit/secrets.toml (the environment wins):

    [explorer]
    mode = "shared"
    uploads = true                  # visitors may upload into writable collections (default false)
    max_upload_mb = 20              # per file (default 10)
    max_session_upload_mb = 100     # per browser session (default 50)
    user_keys = true                # visitors may paste their own API key, kept for their session only
    require_sign_in = true          # default: true when an [auth] section (st.login, OIDC) is configured

    [[explorer.stores]]
    name = "Team library"                # what visitors see
    url_secret = "DATABASE_URL"          # a secret holding the URL; or url = "postgresql://..." | folder | chroma://
    collections = ["handbook", "notes"]  # default: every collection in the store
    writable = ["notes"]                 # default: none (read-only)

    [[explorer.embedders]]              # paid embedders visitors may use (default: none, offline models only)
    name = "endpoint:team-tei"           # a configured [embedding_endpoints.*], or openai-small / openai-large

    # What one request may make the server compute, and the disk its caches may take (shared mode only;
    # defaults in SHARED_LIMITS): max_sweep_settings, max_sweep_chars, max_compare_chunks, max_map_points,
    # max_similarity_texts, max_query_chars, max_queries, max_k, max_cache_mb

    [[explorer.llms]]
    name = "Team vLLM"
    provider = "openai-compatible"       # openai | anthropic | openai-compatible
    base_url = "http://vllm.internal:8000/v1"
    model = "llama3.1"
    key_secret = "VLLM_API_KEY"          # the secret holding its key (default: the provider's usual one)

Nothing here imports Streamlit; ui.py turns the policy into widgets.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence
from urllib.parse import urlsplit

from .config import default_store_url, get_secret, read_secrets
from .embedders import EMBEDDERS, EmbedderSpec
from .embedding_endpoints import PREFIX as ENDPOINT_PREFIX
from .errors import ConfigError, NotAllowed, ProviderError
from .llm import KEYLESS, LLM, PROVIDERS, make_llm

MODES = ("local", "shared")
LOCAL_MAX_UPLOAD_MB = 200  # .streamlit/config.toml server.maxUploadSize: the browser refuses larger files
MB = 1024 * 1024
SignIn = Literal["open", "sign-in", "misconfigured"]


def masked_url(url: str) -> str:
    """A store URL safe to show: any password replaced by ***."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


@dataclass(frozen=True)
class StoreEntry:
    """A store visitors may open, by display name; the URL never leaves the server."""

    name: str
    url: str = field(repr=False)
    collections: tuple[str, ...] | None = None  # None: every collection in the store
    writable: tuple[str, ...] = ()

    def shows(self, collection: str) -> bool:
        return self.collections is None or collection in self.collections or collection in self.writable

    def writes(self, collection: str) -> bool:
        return collection in self.writable


@dataclass(frozen=True)
class Endpoint:
    """A language model the chat page may offer; its key is read server-side when it is used."""

    name: str
    provider: str  # a core.llm.PROVIDERS name
    model: str | None = None
    base_url: str | None = field(default=None, repr=False)
    key_secret: str | None = None  # None: the provider's usual secret

    @property
    def secret_name(self) -> str | None:
        if self.key_secret:
            return self.key_secret
        return "OPENAI_COMPATIBLE_API_KEY" if self.provider == "openai-compatible" else PROVIDERS[self.provider].needs

    def has_server_key(self) -> bool:
        return bool(self.secret_name and get_secret(self.secret_name))


EXTRACTIVE = Endpoint(PROVIDERS["extractive"].label, "extractive")


@dataclass(frozen=True)
class UploadLimits:
    allowed: bool = True
    max_file_mb: float = LOCAL_MAX_UPLOAD_MB
    max_session_mb: float | None = None  # None: no limit per session

    @property
    def uploader_mb(self) -> int:
        """The per-file limit for st.file_uploader (whole MB, at least 1)."""
        return max(1, math.ceil(self.max_file_mb))

    def check(self, files: Sequence[tuple[str, int]], used_bytes: int = 0) -> None:
        """Raises NotAllowed naming every file over the per-file limit, or the session total
        that would be exceeded; `files` are (name, size in bytes), `used_bytes` what this session
        uploaded before."""
        if not files:
            return
        if not self.allowed:
            raise NotAllowed("uploads are switched off on this shared app")
        too_big = [f"{name} ({size / MB:.1f} MB)" for name, size in files if size > self.max_file_mb * MB]
        if too_big:
            raise NotAllowed(f"over the {self.max_file_mb:g} MB limit per file: {', '.join(too_big)}")
        total = used_bytes + sum(size for _, size in files)
        if self.max_session_mb is not None and total > self.max_session_mb * MB:
            left = max(self.max_session_mb * MB - used_bytes, 0) / MB
            raise NotAllowed(f"these files would take this session over its {self.max_session_mb:g} MB upload "
                             f"limit ({left:.1f} MB left)")


@dataclass(frozen=True)
class Limits:
    """How much one request may make the server compute, and how much disk its caches may take;
    None: no limit (an analyst's own machine)."""

    sweep_settings: int | None = None  # chunk settings in one sweep (each is a collection to embed)
    sweep_chars: int | None = None  # characters of the sweep's corpus (each setting embeds all of them)
    compare_chunks: int | None = None  # chunks a second model embeds on Compare embedders
    map_points: int | None = None  # points projected on the map
    similarity_texts: int | None = None  # texts compared at once on Similarity
    query_chars: int | None = None  # a query or question, in characters
    queries: int | None = None  # queries run at once (the map's query set)
    k: int | None = None  # results asked for (k, top k, neighbours)
    cache_mb: float | None = None  # each scratch folder (sweeps, compare vectors): oldest entries go first

    def bound(self, name: str, widget_max: int) -> int:
        """The largest value a widget for `name` may offer: its own maximum, or the limit if lower."""
        limit = getattr(self, name)
        return widget_max if limit is None else int(min(widget_max, limit))

    def fit(self, name: str, widget_max: int, default: int) -> tuple[int, int]:
        """A widget's (max_value, value) for `name`: its maximum within the limit, its default within that."""
        most = self.bound(name, widget_max)
        return most, min(default, most)

    def check(self, name: str, value: float, what: str) -> None:
        """NotAllowed when `value` is over the limit `name`; `what` says what was counted."""
        limit = getattr(self, name)
        if limit is not None and value > limit:
            raise NotAllowed(f"{what}: {value:,} is over this shared app's limit of {limit:,}")

    @property
    def cache_bytes(self) -> int | None:
        return None if self.cache_mb is None else int(self.cache_mb * MB)


# Sensible for a small shared server (2 cores, a few GB): each bounds one request to well under a minute.
SHARED_LIMITS = Limits(sweep_settings=6, sweep_chars=300_000, compare_chunks=2000, map_points=20_000,
                       similarity_texts=50, query_chars=1000, queries=200, k=50, cache_mb=1000)
LIMIT_KEYS = {f"max_{name}": name for name in Limits.__dataclass_fields__}


def paid_embedder(name: str) -> bool:
    """Whether embedding with `name` sends text to a server that may bill for it (an API or an endpoint)."""
    return name.startswith(ENDPOINT_PREFIX) or (name in EMBEDDERS and EMBEDDERS[name].needs is not None)


@dataclass(frozen=True)
class SharingPolicy:
    mode: str = "local"
    stores: tuple[StoreEntry, ...] = ()  # shared mode: the only stores that can be opened
    uploads: UploadLimits = UploadLimits()
    endpoints: tuple[Endpoint, ...] = ()  # shared mode: the only language models offered
    user_keys: bool = False
    require_sign_in: bool = False
    limits: Limits = Limits()
    paid_embedders: tuple[str, ...] = ()  # shared mode: the only paid embedders offered

    @property
    def shared(self) -> bool:
        return self.mode == "shared"

    @property
    def allow_paths(self) -> bool:
        """Files and folders named by path on the server (Library paths, sweep BEIR folder)."""
        return not self.shared

    @property
    def shows_server_paths(self) -> bool:
        """Files' full paths on the server in what leaves it (the map's CSV, session bundles); a shared app
        names them as it shows them instead (relative to the folder they share)."""
        return not self.shared

    @property
    def free_stores(self) -> bool:
        """Any folder, Chroma server or database URL typed in the sidebar."""
        return not self.shared

    @property
    def manage_collections(self) -> bool:
        """Creating and deleting whole collections (in shared mode they come from configuration)."""
        return not self.shared

    @property
    def typed_base_urls(self) -> bool:
        """A base URL typed in the page (the OpenAI-compatible provider on the chat page)."""
        return not self.shared

    def offers_embedder(self, name: str) -> bool:
        """Whether a page may embed with `name`: offline models always; a paid one on a shared app only
        when configured ([[explorer.embedders]]), since the server's key pays for it."""
        return not (self.shared and paid_embedder(name)) or name in self.paid_embedders

    def embedders(self, specs: Sequence[EmbedderSpec]) -> list[EmbedderSpec]:
        """The embedders a page may offer: those that can run here and the policy allows."""
        return [spec for spec in specs if spec.available and self.offers_embedder(spec.name)]

    def store_entry(self, url: str) -> StoreEntry | None:
        return next((entry for entry in self.stores if entry.url == url), None)

    def shows(self, url: str, collection: str) -> bool:
        if not self.shared:
            return True
        entry = self.store_entry(url)
        return entry is not None and entry.shows(collection)

    def can_write(self, url: str, collection: str) -> bool:
        """Ingest into and delete from `collection` of the store at `url`."""
        if not self.shared:
            return True
        entry = self.store_entry(url)
        return entry is not None and entry.writes(collection)

    def can_upload(self, url: str, collection: str | None) -> bool:
        return self.uploads.allowed and (not self.shared or (collection is not None and self.can_write(url, collection)))

    def sign_in(self, auth_configured: bool, signed_in: bool) -> SignIn:
        """Whether the visitor may go on, must sign in first, or cannot (sign-in required, no [auth])."""
        if not self.require_sign_in or signed_in:
            return "open"
        return "sign-in" if auth_configured else "misconfigured"

    def llm(self, endpoint: Endpoint, user_key: str | None = None) -> LLM | None:
        """The model behind a configured endpoint: the visitor's own key when allowed and given, else
        the server's key for this endpoint. No other address ever receives the server's key."""
        if endpoint not in self.endpoints:
            raise NotAllowed(f"'{endpoint.name}' is not one of the configured language models")
        if endpoint.provider == "extractive":
            return None
        key = user_key.strip() if self.user_keys and user_key else None
        key = key or (get_secret(endpoint.secret_name) if endpoint.secret_name else None)
        if not key and endpoint.provider != "openai-compatible":
            raise ProviderError(f"{endpoint.name} needs an API key: "
                                + ("paste your own key" if self.user_keys else "ask whoever runs this app"))
        return make_llm(endpoint.provider, endpoint.model, endpoint.base_url, api_key=key or KEYLESS)


# -- reading the configuration -----------------------------------------------------------

def _strings(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of names, e.g. [\"notes\"]")
    return tuple(value)


def _store(raw: Mapping, n: int) -> StoreEntry:
    name = str(raw.get("name") or "").strip()
    if not name:
        raise ConfigError(f"[[explorer.stores]] number {n + 1} needs a name (what visitors see)")
    url, secret = raw.get("url"), raw.get("url_secret")
    if bool(url) == bool(secret):
        raise ConfigError(f"store '{name}': give either url or url_secret (the name of a secret holding the URL)")
    if secret:
        url = get_secret(str(secret))
        if not url:
            raise ConfigError(f"store '{name}': the secret {secret} is not set (environment or secrets.toml)")
    collections = raw.get("collections")
    return StoreEntry(name, str(url).strip(),
                      None if collections is None else _strings(collections, f"store '{name}': collections"),
                      _strings(raw.get("writable", []), f"store '{name}': writable"))


def _endpoint(raw: Mapping, n: int) -> Endpoint:
    name = str(raw.get("name") or "").strip()
    provider = str(raw.get("provider") or "")
    if not name:
        raise ConfigError(f"[[explorer.llms]] number {n + 1} needs a name")
    if provider not in PROVIDERS or provider == "extractive":
        raise ConfigError(f"language model '{name}': provider must be openai, anthropic or openai-compatible")
    if provider == "openai-compatible" and not raw.get("base_url"):
        raise ConfigError(f"language model '{name}': an openai-compatible endpoint needs its base_url")
    return Endpoint(name, provider, raw.get("model") or PROVIDERS[provider].default_model,
                    raw.get("base_url") or None, raw.get("key_secret") or None)


def _default_endpoints(user_keys: bool) -> tuple[Endpoint, ...]:
    """Without [[explorer.llms]]: the hosted providers whose key is set (or any, when visitors bring keys)."""
    hosted = (Endpoint(PROVIDERS[p].label, p, PROVIDERS[p].default_model) for p in ("openai", "anthropic"))
    return tuple(e for e in hosted if user_keys or e.has_server_key())


def _flag(section: Mapping, name: str, default: bool) -> bool:
    value = section.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"[explorer] {name} must be true or false")
    return value


def _megabytes(section: Mapping, name: str, default: float) -> float:
    value = section.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"[explorer] {name} must be a positive number of MB")
    return float(value)


def _limits(section: Mapping) -> Limits:
    unknown = sorted(key for key in section if key.startswith("max_") and key not in LIMIT_KEYS
                     and key not in ("max_upload_mb", "max_session_upload_mb"))
    if unknown:
        raise ConfigError(f"[explorer] {unknown[0]} is not a limit (limits: {', '.join(LIMIT_KEYS)})")
    values = {}
    for key, name in LIMIT_KEYS.items():
        value = section.get(key, getattr(SHARED_LIMITS, name))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"[explorer] {key} must be a positive number")
        values[name] = value if name == "cache_mb" else int(value)
    return Limits(**values)


def _paid_embedders(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(entry, Mapping) for entry in raw):
        raise ConfigError("explorer.embedders must be a list of [[explorer.embedders]] entries, each with a name")
    names = []
    for n, entry in enumerate(raw):
        name = str(entry.get("name") or "").strip()
        if not paid_embedder(name):
            raise ConfigError(f"[[explorer.embedders]] number {n + 1}: '{name}' is not a paid embedder (give "
                              f"endpoint:NAME of an [embedding_endpoints] entry, or openai-small / openai-large; "
                              "the offline models are always offered)")
        names.append(name)
    return tuple(names)


def load_policy(environ: Mapping[str, str] | None = None, secrets: Mapping | None = None) -> SharingPolicy:
    """The policy from EXPLORER_MODE and the [explorer] section of the secrets file; ConfigError
    (saying what to fix) for a configuration that would otherwise be half applied."""
    environ = os.environ if environ is None else environ
    secrets = read_secrets() if secrets is None else secrets
    section = secrets.get("explorer", {})
    if not isinstance(section, Mapping):
        raise ConfigError("explorer in the secrets file must be a section: [explorer]")
    mode = environ.get("EXPLORER_MODE") or section.get("mode") or "local"
    if mode not in MODES:
        raise ConfigError(f"unknown mode '{mode}' (EXPLORER_MODE or [explorer] mode): use local or shared")
    require_sign_in = _flag(section, "require_sign_in", "auth" in secrets)
    if mode == "local":
        return SharingPolicy(require_sign_in=require_sign_in)
    stores = tuple(_store(raw, n) for n, raw in enumerate(section.get("stores", [])))
    if not stores:  # the default store, read-only: what the app shows before anyone configures more
        stores = (StoreEntry("Library", default_store_url()),)
    names = [entry.name for entry in stores]
    if len(set(names)) != len(names):
        raise ConfigError("two [[explorer.stores]] have the same name: visitors could not tell them apart")
    user_keys = _flag(section, "user_keys", False)
    configured = tuple(_endpoint(raw, n) for n, raw in enumerate(section.get("llms", [])))
    uploads = UploadLimits(_flag(section, "uploads", False), _megabytes(section, "max_upload_mb", 10),
                           _megabytes(section, "max_session_upload_mb", 50))
    return SharingPolicy("shared", stores, uploads, (EXTRACTIVE, *(configured or _default_endpoints(user_keys))),
                         user_keys, require_sign_in, _limits(section), _paid_embedders(section.get("embedders", [])))


def configured_database_urls() -> dict[str, str]:
    """PostgreSQL URLs set server-side (local mode's sidebar offers them by name, masked), by setting name."""
    candidates = {"DATABASE_URL": get_secret("DATABASE_URL"), "EXPLORER_STORE": default_store_url()}
    return {name: url for name, url in candidates.items() if url and url.startswith(("postgresql://", "postgres://"))}


if __name__ == "__main__":  # `python -m core.sharing`: the mode, for scripts/run-app.sh and scripts/serve.sh
    import sys

    try:
        print(load_policy().mode)
    except ConfigError as exc:
        sys.exit(f"configuration: {exc}")

"""The sharing policy (core/sharing.py): what a local run and a shared server allow, read from
EXPLORER_MODE and the [explorer] section of the secrets file."""
from __future__ import annotations

import pytest

from core.errors import ConfigError, NotAllowed, ProviderError
from core.llm import OpenAILLM
from core.sharing import (EXTRACTIVE, MB, SHARED_LIMITS, Endpoint, Limits, SharingPolicy, UploadLimits, load_policy,
                          masked_url, paid_embedder)

PG = "postgresql://team:pw-in-url@db.internal:5432/explorer"


def shared(**section) -> SharingPolicy:
    return load_policy({}, {"explorer": {"mode": "shared", **section}})


def test_local_by_default_allows_everything():
    policy = load_policy({}, {})
    assert policy.mode == "local" and not policy.shared
    assert policy.allow_paths and policy.free_stores and policy.manage_collections and policy.typed_base_urls
    assert policy.can_write("/any/folder", "anything") and policy.can_upload("/any/folder", "anything")
    assert policy.uploads.uploader_mb == 200 and not policy.require_sign_in


def test_environment_wins_over_the_file():
    assert load_policy({"EXPLORER_MODE": "shared"}, {"explorer": {"mode": "local"}}).shared
    assert not load_policy({"EXPLORER_MODE": "local"}, {"explorer": {"mode": "shared"}}).shared
    with pytest.raises(ConfigError, match="unknown mode 'public'"):
        load_policy({"EXPLORER_MODE": "public"}, {})


def test_shared_mode_closes_paths_free_stores_and_collection_management(monkeypatch):
    monkeypatch.setenv("EXPLORER_STORE", "/srv/explorer/store")
    policy = load_policy({"EXPLORER_MODE": "shared"}, {})
    assert not (policy.allow_paths or policy.free_stores or policy.manage_collections or policy.typed_base_urls)
    # Nothing configured: the default store, read-only, under a name (not its path).
    [entry] = policy.stores
    assert (entry.name, entry.url, entry.writable) == ("Library", "/srv/explorer/store", ())
    assert not policy.can_write("/srv/explorer/store", "samples")
    assert not policy.uploads.allowed and not policy.user_keys


def test_configured_stores_collections_and_writable_ones(monkeypatch):
    monkeypatch.setenv("TEAM_DB", PG)
    policy = shared(stores=[{"name": "Team", "url_secret": "TEAM_DB", "collections": ["handbook"],
                             "writable": ["notes"]},
                            {"name": "Samples", "url": "/srv/samples"}])
    team, samples = policy.stores
    assert team.url == PG and "pw-in-url" not in repr(team)  # the URL is not even in a repr
    assert policy.shows(PG, "handbook") and policy.shows(PG, "notes") and not policy.shows(PG, "secret-hr")
    assert policy.can_write(PG, "notes") and not policy.can_write(PG, "handbook")
    assert policy.shows("/srv/samples", "anything") and not policy.can_write("/srv/samples", "anything")
    # A store not in the list: nothing shown, nothing written.
    assert not policy.shows("/etc", "x") and not policy.can_write("postgresql://other/db", "notes")


@pytest.mark.parametrize("stores, message", [
    ([{"url": "/srv/a"}], "needs a name"),
    ([{"name": "A"}], "either url or url_secret"),
    ([{"name": "A", "url": "/a", "url_secret": "X"}], "either url or url_secret"),
    ([{"name": "A", "url_secret": "NOT_SET_ANYWHERE"}], "NOT_SET_ANYWHERE is not set"),
    ([{"name": "A", "url": "/a", "writable": "notes"}], "writable must be a list"),
    ([{"name": "A", "url": "/a"}, {"name": "A", "url": "/b"}], "same name"),
])
def test_bad_store_configuration_is_a_clear_error(stores, message):
    with pytest.raises(ConfigError, match=message):
        shared(stores=stores)


def test_bad_flags_and_limits_are_clear_errors():
    with pytest.raises(ConfigError, match="uploads must be true or false"):
        shared(uploads="yes")
    with pytest.raises(ConfigError, match="max_upload_mb must be a positive number"):
        shared(max_upload_mb=0)
    with pytest.raises(ConfigError, match=r"\[explorer\]"):
        load_policy({}, {"explorer": "shared"})


def test_upload_limits_per_file_and_per_session():
    limits = UploadLimits(allowed=True, max_file_mb=1, max_session_mb=2)
    limits.check([("a.txt", MB), ("b.txt", MB)])  # exactly at both limits
    with pytest.raises(NotAllowed, match=r"1 MB limit per file: big.pdf \(1.5 MB\)"):
        limits.check([("ok.txt", 10), ("big.pdf", int(1.5 * MB))])
    with pytest.raises(NotAllowed, match=r"2 MB upload limit \(0.5 MB left\)"):
        limits.check([("c.txt", MB)], used_bytes=int(1.5 * MB))
    with pytest.raises(NotAllowed, match="switched off"):
        UploadLimits(allowed=False).check([("a.txt", 1)])
    UploadLimits(allowed=False).check([])  # no uploads: nothing to refuse
    assert UploadLimits(max_file_mb=0.5).uploader_mb == 1


def test_uploads_only_into_writable_collections():
    policy = shared(uploads=True, max_upload_mb=5, max_session_upload_mb=20,
                    stores=[{"name": "S", "url": "/s", "writable": ["notes"]}])
    assert policy.can_upload("/s", "notes") and not policy.can_upload("/s", "handbook")
    assert not policy.can_upload("/s", None) and policy.uploads.uploader_mb == 5
    assert not shared(stores=[{"name": "S", "url": "/s", "writable": ["notes"]}]).can_upload("/s", "notes")


def test_sign_in():
    assert load_policy({}, {}).sign_in(auth_configured=False, signed_in=False) == "open"
    with_auth = load_policy({}, {"auth": {"client_id": "x"}})  # an [auth] section means sign-in, in any mode
    assert with_auth.require_sign_in
    assert with_auth.sign_in(auth_configured=True, signed_in=False) == "sign-in"
    assert with_auth.sign_in(auth_configured=True, signed_in=True) == "open"
    required = shared(require_sign_in=True)
    assert required.sign_in(auth_configured=False, signed_in=False) == "misconfigured"
    assert not load_policy({}, {"auth": {}, "explorer": {"require_sign_in": False}}).require_sign_in


def test_endpoints_come_from_configuration(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert shared().endpoints == (EXTRACTIVE,)  # no keys on the server: extractive only
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-server")
    assert [e.provider for e in shared().endpoints] == ["extractive", "anthropic"]
    assert [e.provider for e in shared(user_keys=True).endpoints] == ["extractive", "openai", "anthropic"]
    policy = shared(llms=[{"name": "Team vLLM", "provider": "openai-compatible",
                           "base_url": "http://vllm.internal:8000/v1", "model": "llama3.1", "key_secret": "VLLM_KEY"}])
    assert [e.name for e in policy.endpoints] == ["Extractive (offline)", "Team vLLM"]
    with pytest.raises(ConfigError, match="needs its base_url"):
        shared(llms=[{"name": "x", "provider": "openai-compatible"}])
    with pytest.raises(ConfigError, match="provider must be"):
        shared(llms=[{"name": "x", "provider": "extractive"}])


def test_server_keys_go_only_to_configured_endpoints(monkeypatch):
    monkeypatch.setenv("VLLM_KEY", "server-vllm-key")
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", "server-compatible-key")
    vllm = {"name": "Team vLLM", "provider": "openai-compatible", "base_url": "http://vllm.internal:8000/v1",
            "key_secret": "VLLM_KEY"}
    policy = shared(llms=[vllm])
    endpoint = policy.endpoints[1]
    llm = policy.llm(endpoint)
    assert isinstance(llm, OpenAILLM)
    assert llm._client.api_key == "server-vllm-key" and str(llm._client.base_url).startswith("http://vllm.internal")
    assert policy.llm(EXTRACTIVE) is None
    # An endpoint the configuration does not list (e.g. a base URL a visitor typed) gets nothing.
    with pytest.raises(NotAllowed, match="not one of the configured"):
        policy.llm(Endpoint("mine", "openai-compatible", base_url="http://attacker.example/v1"))
    # A visitor's own key is used only when the configuration allows it.
    assert policy.llm(endpoint, "visitor-key")._client.api_key == "server-vllm-key"
    open_keys = shared(llms=[vllm], user_keys=True)
    assert open_keys.llm(open_keys.endpoints[1], "visitor-key")._client.api_key == "visitor-key"


def test_hosted_endpoint_without_any_key_says_what_to_do(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    policy = shared(user_keys=True)
    openai = next(e for e in policy.endpoints if e.provider == "openai")
    with pytest.raises(ProviderError, match="paste your own key"):
        policy.llm(openai)
    assert policy.llm(openai, "sk-visitor")._client.api_key == "sk-visitor"


def test_masked_url():
    assert masked_url(PG) == "postgresql://team:***@db.internal:5432/explorer"
    assert masked_url("/srv/store") == "/srv/store"
    assert masked_url("postgresql://team@db/x") == "postgresql://team@db/x"


def test_the_example_configuration_is_valid(monkeypatch):
    import tomllib

    from conftest import ROOT

    monkeypatch.setenv("DATABASE_URL", PG)
    monkeypatch.setenv("VLLM_API_KEY", "server-vllm-key")
    with (ROOT / ".streamlit" / "secrets.example.toml").open("rb") as fh:
        policy = load_policy({}, tomllib.load(fh))
    assert policy.shared and [s.name for s in policy.stores] == ["Team library", "Samples"]
    assert policy.can_write(PG, "notes") and not policy.can_write(PG, "handbook")
    assert [e.name for e in policy.endpoints] == ["Extractive (offline)", "Team vLLM (Llama 3.1)"]


def test_a_broken_secrets_file_is_an_error_not_no_configuration(tmp_path, monkeypatch):
    from core.config import get_secret

    broken = tmp_path / "secrets.toml"
    broken.write_text('[explorer]\nmode = "shared\n', encoding="utf-8")
    monkeypatch.setenv("EXPLORER_SECRETS", str(broken))
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_policy({})  # a shared server must not silently fall back to local mode
    assert get_secret("OPENAI_COMPATIBLE_API_KEY_UNSET") is None


def test_limits_are_off_locally_and_default_or_configured_when_shared():
    assert load_policy({}, {}).limits == Limits()  # one's own machine: no limit
    assert shared().limits == SHARED_LIMITS
    limits = shared(max_k=7, max_cache_mb=0.5).limits
    assert (limits.k, limits.cache_mb, limits.map_points) == (7, 0.5, SHARED_LIMITS.map_points)
    assert limits.fit("k", 100, 10) == (7, 7) and limits.fit("map_points", 200_000, 100) == (20_000, 100)
    with pytest.raises(NotAllowed, match="settings in one sweep: 9 is over this shared app's limit of 6"):
        shared().limits.check("sweep_settings", 9, "settings in one sweep")
    Limits().check("sweep_settings", 10**9, "anything")  # no limit, no refusal
    with pytest.raises(ConfigError, match="max_k must be a positive number"):
        shared(max_k=0)
    with pytest.raises(ConfigError, match="max_points is not a limit"):
        shared(max_points=10)


def test_paid_embedders_only_when_configured_on_a_shared_app():
    assert paid_embedder("openai-small") and paid_embedder("endpoint:team") and not paid_embedder("minilm")
    local = load_policy({}, {})
    assert local.offers_embedder("openai-large")  # one's own key, one's own machine
    policy = shared()
    assert not policy.offers_embedder("openai-small") and policy.offers_embedder("bow-hash")
    policy = shared(embedders=[{"name": "endpoint:team"}, {"name": "openai-small"}])
    assert policy.paid_embedders == ("endpoint:team", "openai-small") and not policy.offers_embedder("openai-large")
    with pytest.raises(ConfigError, match="'minilm' is not a paid embedder"):
        shared(embedders=[{"name": "minilm"}])
    with pytest.raises(ConfigError, match="list of \\[\\[explorer.embedders\\]\\]"):
        shared(embedders=["openai-small"])

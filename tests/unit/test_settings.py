"""Settings: every field is documented in .env.example, and bad values fail with the field named."""

from pathlib import Path

import pytest

from sre_bot.errors import ConfigError
from sre_bot.settings import DEFAULT_MODEL, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _example_keys() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def test_env_example_lists_every_setting():
    """Each setting's env name appears in .env.example and nothing there is unknown."""
    aliases = {f.validation_alias for f in Settings.model_fields.values()}
    assert set(_example_keys()) == aliases


def test_env_example_loads_to_the_defaults(monkeypatch):
    """Copying .env.example unchanged gives exactly the defaults."""
    for k in _example_keys():
        monkeypatch.delenv(k, raising=False)
    from_file = load_settings(ROOT / ".env.example")
    defaults = load_settings(None)
    assert from_file == defaults
    assert defaults.anthropic_model == DEFAULT_MODEL


def test_default_model_is_not_deprecated():
    """The default model is not on the installed anthropic SDK's deprecation list."""
    from anthropic.resources.messages.messages import DEPRECATED_MODELS

    assert DEFAULT_MODEL not in DEPRECATED_MODELS
    assert "sonnet" in DEFAULT_MODEL


def test_bad_values_name_the_field(monkeypatch):
    """A bad port and a bad URL are both reported, by their environment names, without a traceback."""
    monkeypatch.setenv("SRE_BOT_HTTP_PORT", "not-a-port")
    monkeypatch.setenv("PROMETHEUS_URL", "ftp//nope")
    with pytest.raises(ConfigError) as e:
        load_settings(None)
    assert "SRE_BOT_HTTP_PORT" in str(e.value) and "PROMETHEUS_URL" in str(e.value)


def test_socket_mode_follows_the_app_token(monkeypatch):
    """SLACK_APP_TOKEN switches to Socket Mode."""
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-x")
    assert load_settings(None).socket_mode

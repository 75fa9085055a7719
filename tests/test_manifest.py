"""manifest.yml is a valid Slack app manifest that asks for exactly what the bot uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from sre_bot.services.commands import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / ".." / "shared" / "fixtures" / "slack" / "manifest"
# manifest.schema.json dispatches on _metadata.major_version to these remote URLs; serve them from local files.
REMOTE = "https://raw.githubusercontent.com/slackapi/manifest-schema/v0.5.0/schemas/manifest.schema.{}.json"


def _load(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


def _validator(schema_file: str) -> Draft7Validator:
    resources = [
        (REMOTE.format(v), Resource.from_contents(_load(f"manifest.schema.{v}.json"), default_specification=DRAFT7))
        for v in ("1.0.0", "2.0.0")
    ]
    schema = _load(schema_file)
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, registry=Registry().with_resources(resources),
                           format_checker=Draft7Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


@pytest.mark.parametrize("schema_file", ["manifest.schema.1.0.0.json", "manifest.schema.json"])
def test_manifest_is_valid(manifest: dict[str, Any], schema_file: str) -> None:
    """The manifest validates against the v1 schema and the version-dispatching schema, without network."""
    errors = _validator(schema_file).iter_errors(manifest)
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors] == []


@pytest.mark.parametrize("schema_file", ["manifest.schema.1.0.0.json", "manifest.schema.json"])
def test_validator_rejects_the_invalid_example(schema_file: str) -> None:
    """The same validator accepts Slack's valid example and rejects the invalid one, so it really validates."""
    validator = _validator(schema_file)
    assert validator.is_valid(_load("example.v1.valid.json"))
    assert not validator.is_valid(_load("example.v1.invalid.json"))


def test_scopes_commands_and_events_are_exactly_what_the_bot_uses(manifest: dict[str, Any]) -> None:
    """Bot scopes, slash commands and bot events are exactly the expected minimal sets, with no user scopes."""
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}
    assert sorted(scopes["bot"]) == ["app_mentions:read", "chat:write", "commands", "usergroups:read", "users:read"]
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/sre"]
    assert manifest["settings"]["event_subscriptions"] == {"bot_events": ["app_mention"]}


def test_identity_and_settings(manifest: dict[str, Any]) -> None:
    """The app is sre-bot, always online, in Socket Mode with interactivity, no org deploy or token rotation; /sre's
    usage hint is the verb registry's."""
    assert manifest["display_information"]["name"] == "sre-bot"
    assert manifest["features"]["bot_user"] == {"display_name": "sre-bot", "always_online": True}
    [sre] = manifest["features"]["slash_commands"]
    assert sre["should_escape"] is False
    assert sre["usage_hint"] == REGISTRY.usage_hint(), (
        f"manifest.yml's usage_hint drifted from the verb registry; set it to:\n{REGISTRY.usage_hint()!r}")
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True and settings["interactivity"] == {"is_enabled": True}
    assert settings["org_deploy_enabled"] is False and settings["token_rotation_enabled"] is False
    assert "https://YOUR-HOST/slack/events" in (ROOT / "manifest.yml").read_text()

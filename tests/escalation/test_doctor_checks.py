"""`sre-bot doctor` says whether paging and Event-Driven Ansible are set up consistently, without sending anything:
a team paged through a provider with no key for it fails at doctor time, not when an approved page is refused."""

from __future__ import annotations

from sre_bot.config import Config
from sre_bot.services.health import escalation_checks
from sre_bot.settings import Settings


def _settings(**env: object) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[call-arg]


def _config(teams: dict[str, object]) -> Config:
    return Config.model_validate({"services": [{"name": "payments-api"}, {"name": "checkout"}],
                                  "escalation": {"teams": teams}})


def test_nothing_configured_is_not_a_failure() -> None:
    esc, eda = escalation_checks(_settings(), Config())
    assert esc.ok and not esc.configured and "never offered" in esc.detail
    assert eda.ok and not eda.configured and "SRE_BOT_EDA_URL" in eda.detail


def test_a_team_without_its_key_fails_and_names_the_setting() -> None:
    cfg = _config({"payments": {"services": ["payments-api"], "pagerduty": True, "opsgenie": True}})
    [esc, _] = escalation_checks(_settings(SRE_BOT_OPSGENIE_API_KEYS='{"payments": "k"}'), cfg)
    assert not esc.ok and esc.configured
    assert "team payments: pagerduty: true but SRE_BOT_PAGERDUTY_ROUTING_KEYS has no key for it" in esc.detail
    assert "OPSGENIE" not in esc.detail.split("pagerduty: true")[1]  # that key is set


def test_unknown_services_and_stray_keys_are_named() -> None:
    cfg = _config({"payments": {"services": ["payments-apii"], "pagerduty": True}})
    [esc, _] = escalation_checks(
        _settings(SRE_BOT_PAGERDUTY_ROUTING_KEYS='{"payments": "r1", "paymnets": "r2"}'), cfg)
    assert not esc.ok
    assert "services not in the config's services: payments-apii" in esc.detail
    assert "keys for teams escalation.teams does not list, unused: paymnets" in esc.detail  # named, not a failure
    assert "r1" not in esc.detail and "r2" not in esc.detail  # never a key


def test_a_consistent_setup_is_summarised() -> None:
    cfg = _config({"payments": {"services": ["payments-api", "checkout"], "pagerduty": True}})
    esc, eda = escalation_checks(_settings(SRE_BOT_PAGERDUTY_ROUTING_KEYS='{"payments": "r1"}',
                                           SRE_BOT_EDA_URL="http://eda.internal:5000/endpoint",
                                           SRE_BOT_EDA_TOKEN="t", SRE_BOT_EDA_HMAC_SECRET="h"), cfg)
    assert esc.ok and "1 team(s) (payments)" in esc.detail and "critical+ after 10m" in esc.detail
    assert eda.ok and eda.configured and "eda.internal/endpoint" in eda.detail
    assert "r1" not in esc.detail


def test_keys_for_unlisted_teams_alone_are_only_a_note() -> None:
    [esc, _] = escalation_checks(_settings(SRE_BOT_PAGERDUTY_ROUTING_KEYS='{"shop-oncall": "r1"}'), Config())
    assert esc.ok and "unused: shop-oncall" in esc.detail and "r1" not in esc.detail

"""The pure parts of the human gate: the `actions:` config, who may decide, fingerprints, the ladder's defaults."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sre_bot.actions.config import ActionsConfig
from sre_bot.actions.policy import (
    Click,
    button_value,
    check_decision,
    effective_autonomy,
    fingerprint,
    may_switch,
    parse_button_value,
)
from sre_bot.config import parse_config
from sre_bot.errors import ConfigError
from sre_bot.store.records import ActionRequest

NOW = datetime(2026, 11, 21, 14, 0, tzinfo=timezone.utc)
CFG = ActionsConfig.model_validate({"approvers": {"users": ["W222"], "groups": ["S0SRE"]},
                                    "risk_approvers": {"high": {"users": ["W333"]}}, "admins": {"users": ["W333"]}})


def _req(**kw) -> ActionRequest:
    base = dict(id="r" * 22, action="argocd.rollback", args={"service": "checkout", "to_history_id": 1},
                preview="Roll back", risk="medium", reversible=True, channel="C1", message_ts="1.1",
                requested_by="W111", created_at=NOW, expires_at=NOW + timedelta(minutes=30))
    return ActionRequest(**{**base, **kw})


def _click(req: ActionRequest, **kw) -> Click:
    rid, digest = parse_button_value(button_value(req))
    return Click(**{**dict(user="W222", user_name="ana", channel="C1", message_ts="1.1", request_id=rid,
                           fingerprint=digest), **kw})


@pytest.mark.parametrize("actions, message", [
    ({"policies": {"argocd.rollback": {"autonomy": "auto"}}}, "cannot be `auto`"),
    ({"policies": {"webhook": {"autonomy": "auto"}}}, "cannot be `auto`"),
    ({"policies": {"kubectl.delete": {"autonomy": "approve"}}}, "not in the action catalog"),
    ({"approvers": {"users": ["ana"]}}, "not Slack user ids"),
    ({"approvers": {"groups": ["U123"]}}, "not Slack user group ids"),
    ({"channels": ["#incidents"]}, "not Slack channel ids"),
    ({"expire_after": "soon"}, "expire_after"),
    ({"webhooks": {"awx": {"url": "https://awx/x", "body": {"cmd": "{shell}"}}}}, "unknown placeholder {shell}"),
    ({"webhooks": {"awx": {"url": "https://awx/x", "body": {"token": "{secret}"}}}}, "unknown placeholder {secret}"),
    ({"policies": {"argocd.rollback": {"autonomy": "yolo"}}}, "autonomy"),
])
def test_bad_actions_config_is_refused_at_load(actions, message):
    """A config that would let something unsafe run, or that names nobody real, stops the bot at start."""
    with pytest.raises(ConfigError, match=message):
        parse_config({"actions": actions})


def test_approvers_resolve_per_action_then_risk_then_global():
    cfg = ActionsConfig.model_validate({**CFG.model_dump(), "policies": {
        "argocd.sync": {"approvers": {"users": ["W555"]}}}})
    assert cfg.approvers_for("argocd.sync", "medium").users == ["W555"]
    assert cfg.approvers_for("webhook", "high").users == ["W333"]
    assert cfg.approvers_for("argocd.rollback", "medium").users == ["W222"]


def test_nobody_to_approve_means_suggest_only():
    level, why = effective_autonomy(ActionsConfig(), "argocd.rollback")
    assert level == "suggest" and "no approvers" in why
    assert effective_autonomy(CFG, "argocd.rollback") == ("approve", None)


def test_fingerprint_covers_what_was_shown():
    """Any change of arguments, channel or preview changes the fingerprint; the button holds no arguments."""
    req = _req()
    assert fingerprint(req) != fingerprint(_req(args={"service": "checkout", "to_history_id": 2}))
    assert fingerprint(req) != fingerprint(_req(channel="C2"))
    assert fingerprint(req) != fingerprint(_req(preview="Roll back further"))
    assert "checkout" not in button_value(req)
    assert parse_button_value("junk") == ("", "")


def test_check_decision_order_and_rules():
    req = _req()
    assert check_decision(req, _click(req), CFG, now=NOW, kill_switch=None, deciding="approve") is None
    assert check_decision(req, _click(req, fingerprint="x" * 24), CFG, now=NOW, kill_switch=None,
                          deciding="approve").code == "tampered"
    assert check_decision(None, _click(req), CFG, now=NOW, kill_switch=None, deciding="approve").code == "tampered"
    assert check_decision(req, _click(req), CFG, now=NOW, kill_switch="on", deciding="approve").code == "kill_switch"
    assert check_decision(req, _click(req), CFG, now=NOW, kill_switch="on", deciding="reject") is None
    assert check_decision(_req(status="rejected"), _click(_req(status="rejected")), CFG, now=NOW, kill_switch=None,
                          deciding="approve").code == "decided"
    assert check_decision(req, _click(req), CFG, now=NOW + timedelta(hours=1), kill_switch=None,
                          deciding="approve").code == "expired"
    assert check_decision(req, _click(req, user="W999"), CFG, now=NOW, kill_switch=None,
                          deciding="approve").code == "unauthorised"
    assert check_decision(req, _click(req, user="W999", groups=frozenset({"S0SRE"})), CFG, now=NOW,
                          kill_switch=None, deciding="approve") is None
    # the requester may withdraw their own request, but not approve their own high-risk one
    assert check_decision(req, _click(req, user="W111"), CFG, now=NOW, kill_switch=None, deciding="reject") is None
    high = _req(action="webhook", args={"name": "awx"}, risk="high", reversible=False, requested_by="W333")
    assert check_decision(high, _click(high, user="W333"), CFG, now=NOW, kill_switch=None,
                          deciding="approve").code == "two_person"
    only_c2 = ActionsConfig.model_validate({**CFG.model_dump(), "channels": ["C0TWO"]})
    assert check_decision(req, _click(req), only_c2, now=NOW, kill_switch=None, deciding="approve").code == "channel"


def test_kill_switch_any_approver_stops_only_admins_restart():
    assert may_switch(CFG, "W222", frozenset(), on=True) is None
    assert may_switch(CFG, "W222", frozenset(), on=False).code == "unauthorised"
    assert may_switch(CFG, "W333", frozenset(), on=False) is None
    assert may_switch(CFG, "W999", frozenset(), on=True).code == "unauthorised"

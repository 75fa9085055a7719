"""Issue 15: a question about a downstream service surfaces the change upstream of it, through the real CLI, the
bot's real clients and the sandbox shop on loopback (checkout's deploy, two hops above payments-db)."""

from __future__ import annotations

import json

from tests.test_ask import _ask, shop  # noqa: F401  (the fixture)


async def test_a_database_question_names_the_deploy_two_hops_upstream(shop, tmp_path):  # noqa: F811
    """`ask "what happened to payments-db?"`: the scope walks up the graph (payments-api, checkout, frontend), and
    checkout's deploy, which opened the timeline, is the first hypothesis; payments-db's own saturation is kept
    as a lower one with its evidence."""
    sb, cfg = shop
    code, out, err = await _ask({**sb.urls.as_env(), "SRE_BOT_CONFIG": str(cfg)}, "what happened to payments-db?",
                                "--json", "--no-llm", cwd=tmp_path)
    assert code == 0, err
    data = json.loads(out)
    assert data["focus"] == "payments-db"
    assert {"payments-api", "checkout", "frontend"} <= set(data["services"])
    top = data["hypotheses"][0]
    assert top["service"] == "checkout" and top["cause_kind"] == "bad_deploy", data["summary"]
    assert any(ev["source"] == "argocd" and "4f1c2e9" in ev["quote"] for ev in top["evidence"])
    assert "payments-db" in [h["service"] for h in data["hypotheses"]]
    assert "checkout deployed 4f1c2e9" in data["summary"]

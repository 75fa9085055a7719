"""Every shown quote is checked against the evidence and the simulated systems (evaluation/grounding.py)."""

from __future__ import annotations

from sre_bot.evaluation.grounding import check_item, check_quotes
from sre_bot.services.explain import explain
from tests.evaluation._support import bot_on


async def test_the_engines_shown_quotes_all_verify_against_the_sandbox() -> None:
    """On the default scenario every displayed item (deploy, anomalies, log lines) agrees with the World."""
    async with bot_on("checkout-bad-deploy") as (sb, deps):
        done = await explain(deps, "why is frontend returning errors?")
    shown = done.reply.evidence
    kinds = {e.kind for e in shown}
    assert {"deploy", "anomaly", "log_shift"} <= kinds
    r = check_quotes(shown, [], evidence={e.id: e for e in done.engine.evidence}, visible={}, world=sb.world)
    assert r.shown == len({e.id for e in shown}) and r.verified == r.shown == r.source_checked
    assert r.problems == []


async def test_a_misstated_number_a_made_up_line_and_a_wrong_revision_are_caught() -> None:
    """Tampered copies of real items fail the source check, each with the reason."""
    async with bot_on("checkout-bad-deploy") as (sb, deps):
        done = await explain(deps, "why is frontend returning errors?")
    ev = {e.kind: e for e in reversed(done.reply.evidence)}
    deploy, logs = ev["deploy"], ev["log_shift"]
    anomaly = next(e for e in done.reply.evidence if e.kind == "anomaly" and e.data.get("unit") == "ratio")
    after = anomaly.data["after"]
    wrong_number = anomaly.model_copy(update={"quote": anomaly.quote.replace(
        f"to {after * 100:.1f}%", "to 97.0%")})
    assert wrong_number.quote != anomaly.quote
    assert "outside the values" in (check_item(wrong_number, sb.world) or "")
    wrong_time = anomaly.model_copy(update={"quote": anomaly.quote.replace(" at 14:", " at 13:")})
    assert "the onset is" in (check_item(wrong_time, sb.world) or "")
    made_up = logs.model_copy(update={"quote": logs.quote + " retries=0"})
    assert "line not in the simulated" in (check_item(made_up, sb.world) or "")
    other_rev = deploy.model_copy(update={"data": {**deploy.data, "revision": "0" * 40}})
    assert "no deploy of checkout" in (check_item(other_rev, sb.world) or "")
    faked_point = anomaly.model_copy(update={"data": {**anomaly.data, "points": [
        [anomaly.data["points"][0][0], anomaly.data["points"][0][1] * 3], *anomaly.data["points"][1:]]}})
    assert "the simulated checkout" in (check_item(faked_point, sb.world) or "")


async def test_model_quotes_must_be_verbatim_and_cite_held_items() -> None:
    """A model excerpt counts only when its item exists, is ok, agrees with the World and holds the text."""
    async with bot_on("checkout-bad-deploy") as (sb, deps):
        done = await explain(deps, "why is frontend returning errors?")
    evidence = {e.id: e for e in done.engine.evidence}
    deploy = next(e for e in done.engine.evidence if e.kind == "deploy" and "4f1c2e9" in e.quote)
    visible = {deploy.id: f"label: ...\ntext:\n{deploy.quote}"}
    quotes = [(deploy.id, deploy.quote), (deploy.id, "deployed by someone else"), ("argo-nope", "anything")]
    r = check_quotes([], quotes, evidence=evidence, visible=visible, world=sb.world)
    assert (r.shown, r.verified) == (3, 1)
    assert any("not verbatim" in p for p in r.problems) and any("does not hold" in p for p in r.problems)

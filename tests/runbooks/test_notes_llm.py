"""The model's optional sentence per step: one request through the real SDK to the fake Messages API, a forced
`step_notes` call, and the grounding check; a note survives only quoting its step's evidence verbatim, and no
note ever changes a status, the root cause or the remediation."""

from __future__ import annotations

import re

import pytest

from tests.fakes.anthropic_api import FakeAnthropic, call, error, tool_use
from tests.llm._script import evidence_in
from tests.runbooks._support import audit_records, run, sandbox_deps, statuses

EXPECTED = {"error_ratio": "finding", "error_logs": "finding", "recent_deploy": "finding", "other_deploys": "skipped"}


def _ids_by_step(body: dict) -> dict[str, list[str]]:
    """Each step id -> the evidence ids sent under its heading."""
    text = body["messages"][0]["content"][0]["text"]
    out: dict[str, list[str]] = {}
    for part in re.split(r"\n## step ", text)[1:]:
        sid = part.split(":", 1)[0]
        out[sid] = re.findall(r'<evidence id="([^"]+)"', part)
    return out


def _notes(body: dict):
    """One grounded note (a log line's excerpt), one invented quote, one invented number."""
    sent, steps = evidence_in(body), _ids_by_step(body)
    log_id = steps["error_logs"][0]
    line = sent[log_id].splitlines()[0]
    excerpt = line[line.index('msg="timeout'):][:40]
    deploy_id = steps["recent_deploy"][0]
    return tool_use(call("step_notes", {"notes": [
        {"step_id": "error_logs", "sentence": "Every error line is a timeout calling payments-api.",
         "evidence_id": log_id, "quote": excerpt},
        {"step_id": "error_ratio", "sentence": "Errors are rising fast.", "evidence_id": steps["error_ratio"][0],
         "quote": "the error ratio doubled every minute"},
        {"step_id": "recent_deploy", "sentence": "The deploy happened 47 minutes ago.", "evidence_id": deploy_id,
         "quote": sent[deploy_id][:30]},
    ]}))


@pytest.fixture
def model():
    with FakeAnthropic() as m:
        yield m


def _env(model: FakeAnthropic) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": model.url, "SRE_BOT_LLM_MAX_RETRIES": "0"}


async def test_a_grounded_note_is_kept_and_the_others_are_removed(model):
    """The note quoting a log line verbatim is shown with its evidence id; an invented quote and an invented
    number are removed; the statuses and the rollback are exactly the engine's; all of it is in the audit."""
    model.enqueue(_notes)
    async with sandbox_deps("checkout-bad-deploy", env=_env(model)) as (_, deps):
        state = await run(deps, "high-error-rate-after-deploy", "checkout")
        model.assert_clean()
        body = model.last_body()
        assert body["tool_choice"] == {"type": "tool", "name": "step_notes"}
        assert set(_ids_by_step(body)) == {"error_ratio", "error_logs", "recent_deploy"}
        assert statuses(state) == EXPECTED and state.outcome == "cause_found"
        assert [r.kind for r in state.remedies] == ["approve"]
        logs = state.by_id("error_logs")
        assert logs.note == "Every error line is a timeout calling payments-api."
        assert logs.note_quote[0] == logs.evidence[0].id and logs.note_quote[1].startswith('msg="timeout calling')
        assert state.by_id("error_ratio").note is None and state.by_id("recent_deploy").note is None
        assert state.notes_by.startswith("notes by claude-") and "2 removed by the grounding check" in state.notes_by
        finished = (await audit_records(deps, state.id))[-1]
        assert finished.data["notes"] == {"error_logs": {"sentence": logs.note, "evidence_id": logs.note_quote[0],
                                                         "quote": logs.note_quote[1]}}


async def test_the_run_does_not_depend_on_the_model(model):
    """With the model failing, the run is the same, and says there are no notes and why."""
    model.enqueue(error(500, "api_error", "overloaded inside"))
    async with sandbox_deps("checkout-bad-deploy", env=_env(model)) as (_, deps):
        state = await run(deps, "high-error-rate-after-deploy", "checkout")
    assert statuses(state) == EXPECTED and state.outcome == "cause_found" and len(state.remedies) == 1
    assert all(s.note is None for s in state.steps)
    assert state.notes_by == "no model notes: the model did not answer (InternalServerError)"

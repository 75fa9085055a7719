"""`python -m benchmarks.calibrate`'s Nezha input: the recorded engine inputs of faults and no-fault windows, re-run
through the current engine, as questions of the right dataset with the right truth."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks._nezha_replay import save_engine_inputs
from benchmarks.calibrate import nezha_questions
from sre_bot.analysis.evidence import LogShift

T = 1_700_000_000.0


def _inputs(service: str | None) -> dict:
    evidence = [] if service is None else [LogShift(evidence_id=f"loki-{service}", service=service, kind="new",
                                                    before=0, during=400, first_seen=T - 300, text="new template")]
    return {"evidence": evidence, "graph": {"frontend": ["cart"], "cart": []}, "focus": "frontend",
            "window": (T - 600, T), "gaps": 0}


def test_faults_and_no_fault_windows_become_questions(tmp_path: Path) -> None:
    files = {name: save_engine_inputs(tmp_path / "ev" / f"{name}.json.gz", _inputs(svc))
             for name, svc in (("f1", "cart"), ("f2", "frontend"), ("q1", None), ("q2", "cart"), ("r1", "cart"))}
    run = {"faults": [
        {"app": "OnlineBoutique", "index": 1, "fault": "cpu_contention", "truth": "cart",
         "variants": {"callgraph": {"evidence_file": files["f1"]}, "metrics": {}}},
        {"app": "OnlineBoutique", "index": 2, "fault": "return", "truth": "cart",
         "variants": {"callgraph": {"evidence_file": files["f2"]}}}],
        "quiet": [{"app": "OnlineBoutique", "kind": "between", "asked_at": "t1", "evidence_file": files["q1"]},
                  {"app": "OnlineBoutique", "kind": "before", "asked_at": "t2", "evidence_file": files["q2"]},
                  {"app": "OnlineBoutique", "kind": "recovering", "asked_at": "t3", "evidence_file": files["r1"]}]}
    path = tmp_path / "nezha_rca.json"
    path.write_text(json.dumps(run), encoding="utf-8")
    qs = nezha_questions(path)
    assert [q.dataset for q in qs] == ["Nezha OnlineBoutique"] * 4  # a row without evidence and recovering: out
    right, wrong, quiet_none, quiet_named = qs
    assert right.fault and right.ranked and right.truth[0] and right.scores[0] > 0
    assert wrong.fault and wrong.ranked and not wrong.truth[0]  # frontend ranked first, the truth is cart
    assert not quiet_none.fault and not quiet_none.ranked  # nothing anomalous: no point, abstains whatever
    assert not quiet_named.fault and quiet_named.ranked and not any(quiet_named.truth)
    assert all(0 < c <= 1 for q in qs for c in q.confidences)

"""The shipped scenario library: enough scenarios, every kind of story the eval must cover, all well formed."""

from __future__ import annotations

import re
from datetime import timedelta

from sre_bot.actions.catalog import CATALOG
from sre_bot.evaluation.cases import eval_cases
from sre_bot.sandbox import list_scenarios, load_scenario
from sre_bot.sandbox.scenario import scenario_path

LIBRARY = [load_scenario(n) for n in list_scenarios()]


def test_at_least_twenty_scenarios_beyond_the_default_each_with_truth() -> None:
    """21+ scenarios ship, each named after its file, each with a truth and a question per incident."""
    assert len(LIBRARY) >= 21
    for sc in LIBRARY:
        assert sc.name == scenario_path(sc.name).stem and sc.truth is not None, sc.name
        assert eval_cases(sc), sc.name


def test_the_library_covers_every_required_story() -> None:
    """Bad deploy, saturation, outage, config change, traffic spike, no cause, two incidents, missing backends."""
    cases = [c for sc in LIBRARY for c in eval_cases(sc)]
    causes = {c.truth.cause for c in cases}
    assert {"bad_deploy", "resource_exhaustion", "dependency_outage", "config_change", "traffic_spike",
            "infrastructure", "none"} <= causes
    assert sum(c.truth.cause == "none" for c in cases) >= 3
    assert sum(len(sc.truth.cases()) >= 2 for sc in LIBRARY if sc.truth) >= 2
    states = {(b, s) for sc in LIBRARY for b, s in sc.backends.items()}
    assert {"down", "absent"} <= {s for _, s in states} and len({b for b, _ in states}) >= 3
    assert any("noisy" in sc.name for sc in LIBRARY) and sum("red-herring" in sc.name for sc in LIBRARY) >= 2


def test_red_herring_deploys_come_after_the_onset() -> None:
    """In a red-herring scenario a service other than the root was deployed after the root's first event."""
    for sc in [s for s in LIBRARY if "red-herring" in s.name]:
        (case,) = eval_cases(sc)
        root = sc.service(case.truth.root_service or "")
        onset = min(ev.at for shape in root.shapes().values() for ev in shape.events)
        later = [d for s in sc.services if s.name != root.name and s.argocd for d in s.argocd.history
                 if onset < d.at < onset + timedelta(minutes=10)]
        assert later, sc.name


def test_truth_actions_are_catalog_actions_and_questions_do_not_give_the_answer() -> None:
    """Every right action is in the catalog; no question names the cause kind it is asking about."""
    for sc in LIBRARY:
        for c in eval_cases(sc):
            a = c.truth.action
            if a is not None and a != "none":
                assert a.name in CATALOG, (sc.name, a.name)
            words = re.sub(r"[_]", " ", c.truth.cause)
            assert words not in c.question.lower(), (sc.name, c.question)

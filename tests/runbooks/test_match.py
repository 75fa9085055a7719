"""Which runbooks an incident's alerts and hypotheses match: a pure function the incident thread and the mention
answer both call."""

from __future__ import annotations

from sre_bot.config import Config
from sre_bot.runbooks.loader import load_runbooks
from sre_bot.runbooks.match import match_runbooks
from tests.runbooks._support import SHIPPED

RUNBOOKS = list(load_runbooks(SHIPPED, Config()).values())


def test_an_alert_with_its_service_matches_that_service():
    """The pool alert of payments-db suggests db-connection-pool for payments-db, alerts weighing more."""
    [m] = match_runbooks(RUNBOOKS, alert_names=[("DBConnectionPoolExhausted", "payments-db")],
                         services=["checkout"])
    assert (m.runbook, m.service, m.reasons) == ("db-connection-pool", "payments-db",
                                                 ("alert DBConnectionPoolExhausted",))


def test_names_without_services_take_the_most_relevant_service():
    """A bare alert name or hypothesis kind runs against the first of `services`; matches are ranked by clues."""
    matches = match_runbooks(RUNBOOKS, alert_names=["HighErrorRate"], hypothesis_kinds=["bad_deploy",
                             "resource_saturation"], services=["checkout", "payments-api"])
    assert [(m.runbook, m.service) for m in matches] == [
        ("high-error-rate-after-deploy", "checkout"), ("db-connection-pool", "checkout")]
    assert matches[0].reasons == ("alert HighErrorRate", "hypothesis bad_deploy") and matches[0].score == 3


def test_nothing_matches_without_a_clue_and_the_service_may_be_unknown():
    """No alert or hypothesis in common: no match; no candidate service: the match says so (service None)."""
    assert match_runbooks(RUNBOOKS, alert_names=["DiskFull"], hypothesis_kinds=["traffic_spike"],
                          services=["checkout"]) == []
    [m] = match_runbooks(RUNBOOKS, alert_names=["KubePodCrashLooping"])
    assert m.runbook == "pod-crash-loop" and m.service is None


def test_a_runbook_limited_to_services_matches_only_those():
    """`match.services` keeps a runbook to its services, whether the service comes with the clue or not."""
    db_only = RUNBOOKS[0].model_copy(update={"match": RUNBOOKS[0].match.model_copy(update={"services": ["orders-db"]})})
    assert db_only.name == "db-connection-pool"
    assert match_runbooks([db_only], alert_names=[("DBConnectionPoolExhausted", "payments-db")]) == []
    [m] = match_runbooks([db_only], alert_names=["DBConnectionPoolExhausted"], services=["checkout", "orders-db"])
    assert m.service == "orders-db"
    assert match_runbooks([db_only], alert_names=["DBConnectionPoolExhausted"], services=["checkout"]) == []

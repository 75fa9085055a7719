"""The evaluation loop: scenarios with ground truth run through the bot's real surfaces, scored and reported.

    cases.py       a scenario's truth incidents as questions, with their alerts
    runner.py      one scenario: sandbox on loopback, the bot's own clients, correlation and answers scored
    scoring.py     an answer read for scoring: blamed services, cause kind, confidence, suggested actions
    grounding.py   every shown quote checked against the evidence and the simulated systems
    results.py     result rows (`CaseResult`, `ScenarioResult`), shared with the benchmark runners
    metrics.py     the numbers: correlation F1, top-1/3, cause kind, abstention, grounding, action, calibration
    report.py      the terminal table, the JSON file and the Markdown report (with `diagram.py`'s PNG)
    thresholds.py  the regression gate (`thresholds.yaml`)

`sre-bot eval` (`sre_bot/cli/eval.py`) runs it; `calibration.json` is the calibration it fitted on the library.
"""

__all__: list[str] = []

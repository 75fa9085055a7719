"""Interactive runbooks: a team's diagnostic steps as YAML, run read-only, read, and turned into a suggested fix.

    config.py       the `runbooks:` config section (folder, health-check allow-list)
    model.py        a runbook file's shape (steps, match, remediation)
    conditions.py   the safe condition language of `when:` (parsed with `ast`, never evaluated by Python)
    templates.py    `$service`, `${selector}`, `${step.value}` and how each is written where it goes
    steps.py        the read-only tools a step may name, their parameters and values
    readers.py      what each tool reads (through `sre_bot.tools` and the backends), as evidence and values
    checks.py       what a runbook means, checked (unsafe steps, unknown names, actions outside the catalog)
    loader.py       files in, every problem listed, nothing loaded when one is wrong
    library.py      the loaded runbooks and the health-check client, as the bot holds them (`Deps.runbooks`)
    match.py        which runbooks fit an incident's alerts and hypotheses (pure)
    run.py          a run's state: each step's status, evidence and interpretation, the outcome, the remedies
    runner.py       a run: steps in order, conditions, early stop, audit, remediation through `propose`
    report.py       a run as a Reply (the Slack message redrawn after each step, or the console's answer)

Pure modules (conditions, templates, checks, match, run, report) do no I/O; the runner is a service that calls tools,
the optional model (`sre_bot.llm.runbook_notes`) and the approval gate. Nothing is imported here at package
import time, so `config.py` and `deps.py` can import their parts without cycles.
"""

"""Feedback from real incidents: people rate each investigation answer ("Right cause?"), the bot reports its
accuracy and calibration on that history, and an action whose triggering answers are too often wrong steps down
the autonomy ladder by itself (only a person raises it back).

    model.py        what an answer claimed (`AnswerDraft`), carried on the Reply to the surface that posts it
    answers.py      the team's calibration applied to an engine answer, and the draft built from it
    votes.py        a vote on a posted answer: checked, stored (one latest vote per person), audited
    accuracy.py     accuracy and calibration numbers from feedback points (pure)
    report.py       those numbers over a window, read from the store, as lines for Slack and the terminal
    stepdown.py     the monitor: lower an action one rung when its answers' accuracy falls below the threshold
    autonomy.py     the store-backed level of each action, and a person raising (or lowering) it
    (`sre-bot eval --history` lives in `cli/history.py`)

Nothing is imported here, so `services/reply.py` can use `feedback.model` without an import cycle.
"""

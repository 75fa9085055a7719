"""Alert storms → incidents: the processor that turns the alert inbox into stored incidents (`processor.py`),
where each incident's Slack message goes (`config.py`), the root-service investigation (`investigate.py`), and the
workflow that decides what to post, redraw or note for each incident and writes the store (`workflow.py`; a chat
surface only renders and sends its items)."""

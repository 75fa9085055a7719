"""Alert storms → incidents: the processor that turns the alert inbox into stored incidents (`processor.py`),
where each incident's Slack message goes (`config.py`), and the root-service investigation (`investigate.py`)."""

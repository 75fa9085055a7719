"""Escalation of unknown issues to the on-call (PagerDuty, Opsgenie), behind the same human gate as every action."""

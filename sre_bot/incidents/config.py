"""The YAML `incidents:` section: where incident messages go, and how often the processor runs.

```yaml
incidents:
  channel: C0INCIDENTS          # the default incident channel (id or #name); none: incidents are kept, not posted
  routes:                       # optional, first match wins: every label must equal (`=`) the alert's value
    - match: {team: payments}
      channel: C0PAYMENTS
  every: 10s                    # processor cadence: new alerts are summarised in the thread at most this often
  investigate: true             # investigate the likely root service and post the answer in the thread
```
A route is matched against the incident's first alert's labels (the one that opened it), so an incident never
moves channel after its message is posted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..windows import duration_field, parse_duration

__all__ = ["IncidentsConfig", "Route"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _channel(v: str) -> str:
    v = v.strip()
    if not v or any(c.isspace() for c in v):
        raise ValueError(f"a channel is a Slack channel id (C0123…) or #name, got {v!r}")
    return v


class Route(_Strict):
    match: dict[str, str] = Field(min_length=1)
    channel: str

    @field_validator("channel")
    @classmethod
    def _ch(cls, v: str) -> str:
        return _channel(v)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match.items())


class IncidentsConfig(_Strict):
    channel: str | None = None
    routes: list[Route] = Field(default_factory=list)
    every: str = "10s"
    investigate: bool = True

    @field_validator("every")
    @classmethod
    def _every(cls, v: str) -> str:
        duration_field(v)
        if parse_duration(v) < timedelta(seconds=1):
            raise ValueError(f"every must be at least 1s, got {v}")
        return v

    @field_validator("channel")
    @classmethod
    def _ch(cls, v: str | None) -> str | None:
        return None if v is None else _channel(v)

    @property
    def every_delta(self) -> timedelta:
        return parse_duration(self.every)

    def channel_for(self, labels: Mapping[str, str]) -> str | None:
        """The first matching route's channel, else the default one (None: not posted)."""
        for r in self.routes:
            if r.matches(labels):
                return r.channel
        return self.channel

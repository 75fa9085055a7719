"""The YAML `deploys:` section: bad-change detection — which Argo CD syncs get a verdict, when, and where it goes.

```yaml
deploys:
  enabled: true                 # watch Argo CD and judge every completed sync (needs Argo CD, Prometheus, a store)
  channel: C0DEPLOYS            # where a bad (or suspicious) verdict is posted; none: verdicts are only recorded
  apps: []                      # the Argo CD apps to watch (empty: every app)
  routes:                       # optional, first match wins, on {app, service, project}
    - match: {project: payments}
      channel: C0PAYMENTS
  wait: 4m                      # judge a sync this long after it finished (the after-window; both Nezha
                                # folds of benchmarks/nezha_changes.py picked 4 min)
  before: 30m                   # compared with this long before the sync
  lookback: 1h                  # syncs older than this when first seen are not judged (a restart does not
                                # re-judge last week's deploys)
  every: 30s                    # how often Argo CD is asked for new syncs
  callers: true                 # also judge the direct callers' signals (their findings: suspicious at most)
  suspicious: note              # note: a short message for a suspicious verdict; quiet: recorded only
```
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..incidents.config import Route
from ..windows import duration_field, parse_duration

__all__ = ["DeploysConfig"]


def _channel(v: str) -> str:
    v = v.strip()
    if not v or any(c.isspace() for c in v):
        raise ValueError(f"a channel is a Slack channel id (C0123…) or #name, got {v!r}")
    return v


class DeploysConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    channel: str | None = None
    apps: list[str] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    wait: str = "4m"  # both leave-one-day-out folds of benchmarks/nezha_changes.py picked 4 min
    before: str = "30m"
    lookback: str = "1h"
    every: str = "30s"
    callers: bool = True
    suspicious: Literal["note", "quiet"] = "note"

    @field_validator("wait", "before", "lookback", "every")
    @classmethod
    def _duration(cls, v: str) -> str:
        duration_field(v)
        if parse_duration(v) < timedelta(seconds=1):
            raise ValueError(f"must be at least 1s, got {v}")
        return v

    @field_validator("channel")
    @classmethod
    def _ch(cls, v: str | None) -> str | None:
        return None if v is None else _channel(v)

    @property
    def wait_delta(self) -> timedelta:
        return parse_duration(self.wait)

    @property
    def before_delta(self) -> timedelta:
        return parse_duration(self.before)

    @property
    def lookback_delta(self) -> timedelta:
        return parse_duration(self.lookback)

    @property
    def every_delta(self) -> timedelta:
        return parse_duration(self.every)

    def watches(self, app: str) -> bool:
        return not self.apps or app in self.apps

    def channel_for(self, labels: Mapping[str, str]) -> str | None:
        """The first matching route's channel, else the deploys channel (None: recorded, not posted)."""
        for r in self.routes:
            if r.matches(labels):
                return r.channel
        return self.channel

"""The `runbooks:` section of the YAML config: where the runbook files live and what a health check may GET.

    runbooks:
      dir: runbooks                      # *.yaml / *.yml in this folder (relative to the working directory)
      http_allow:                        # URL prefixes an `http_check` step may GET; nothing else is ever fetched
        - https://status.internal.example.com/health/
      http_timeout: 5                    # seconds per health check
      http_max_bytes: 65536              # the most of a response body that is read

With no `dir`, no runbooks are loaded (`/sre runbook list` says how to add some).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["RunbooksConfig", "normalise_prefix"]


def normalise_prefix(prefix: str) -> str:
    """An allow-list entry as `scheme://host[:port]/path`, lower-case scheme and host, a path that starts with `/`.

    Raises ValueError for anything that is not an absolute http(s) URL with a host, or that carries credentials,
    a query or a fragment (a prefix is a place, not a request)."""
    try:
        u = httpx.URL(prefix)
    except httpx.InvalidURL as e:
        raise ValueError(f"{prefix!r} is not a URL ({e})") from None
    if u.scheme not in ("http", "https") or not u.host:
        raise ValueError(f"{prefix!r} is not an absolute http(s) URL with a host")
    if u.userinfo or u.query or u.fragment:
        raise ValueError(f"{prefix!r}: an allow-list entry carries no credentials, query or fragment")
    port = f":{u.port}" if u.port else ""
    return f"{u.scheme}://{u.host}{port}{u.path or '/'}"


class RunbooksConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: Path | None = None
    http_allow: list[str] = Field(default_factory=list)
    http_timeout: float = Field(5.0, gt=0, le=60)
    http_max_bytes: int = Field(65536, ge=1024, le=4 * 2**20)

    @field_validator("http_allow")
    @classmethod
    def _prefixes(cls, v: list[str]) -> list[str]:
        return [normalise_prefix(p) for p in v]

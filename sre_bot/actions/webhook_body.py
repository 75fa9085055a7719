"""Fill a configured webhook's JSON body and headers: plain substitution of known placeholders, nothing evaluated."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["render_webhook", "render_headers"]

_PLACEHOLDER = re.compile(r"\{(service|request_id|requested_by|approver|reason|channel|secret)\}")


def _fill(obj: Any, values: dict[str, str]) -> Any:
    if isinstance(obj, str):
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), obj)
    if isinstance(obj, dict):
        return {_fill(k, values): _fill(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill(v, values) for v in obj]
    return obj


def render_webhook(template: Any, *, as_text: bool = True, **values: str | None) -> Any:
    """The body with placeholders filled (a missing value becomes ""); JSON text when `as_text`, else the object."""
    filled = _fill(template, {k: v or "" for k, v in values.items() if k != "secret"})
    return json.dumps(filled, ensure_ascii=False, sort_keys=True) if as_text else filled


def render_headers(headers: dict[str, str], *, secret: str | None, **values: str | None) -> dict[str, str]:
    """Headers with placeholders filled; {secret} from SRE_BOT_WEBHOOK_SECRETS (never shown in a preview)."""
    return {k: _fill(v, {**{n: x or "" for n, x in values.items()}, "secret": secret or ""})
            for k, v in headers.items()}

"""The LLM audit trail: every exchange with the model, as sent (redacted) and as received, with model name,
prompt version and token usage; one JSON object per line in SRE_BOT_LLM_AUDIT_PATH, and a summary log line.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..logging import get_logger

__all__ = ["Audit"]

log = get_logger(__name__)


@dataclass
class Audit:
    path: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, entry: dict[str, Any]) -> None:
        log.info("llm exchange", step=entry.get("step"), model=entry.get("model"), prompt=entry.get("prompt_version"),
                 usage=entry.get("usage"), outcome=entry.get("outcome"))
        line = json.dumps(entry, ensure_ascii=False, default=str)
        with self._lock:
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(line + "\n")

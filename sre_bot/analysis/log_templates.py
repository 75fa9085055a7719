"""Log lines mined into templates with drain3 (the field's standard Drain implementation).

Variable parts (numbers, ids, IPs, durations, hex) are masked first so "timeout after 5000ms (trace 9f2c…)" and
"timeout after 5012ms (trace 1a7b…)" are one template. Pure: lines in, templates out; each template keeps the
first line verbatim as its example (a quote must be exactly what the backend returned).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

__all__ = ["LogTemplate", "mine_templates"]

_MASKS = [
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "UUID"),
    (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?", "TIME"),
    (r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?![\w.])", "IP"),
    (r"(?<![\w])(?:0x)?[0-9a-fA-F]{12,}(?![\w])", "HEX"),
    (r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:ms|us|µs|ns|s|m|h|%|[KMG]i?B)?(?![\w.])", "NUM"),
]


@dataclass
class LogTemplate:
    template: str
    count: int
    example: str  # the first line that made this template, verbatim
    first_index: int  # position of `example` in the input (input order)
    indexes: list[int] = field(default_factory=list, repr=False)


def _miner() -> TemplateMiner:
    cfg = TemplateMinerConfig()
    cfg.masking_instructions = [MaskingInstruction(p, name) for p, name in _MASKS]
    cfg.mask_prefix, cfg.mask_suffix = "<", ">"
    cfg.drain_sim_th = 0.5
    cfg.drain_depth = 4
    cfg.profiling_enabled = False
    cfg.parametrize_numeric_tokens = True
    return TemplateMiner(config=cfg)


def mine_templates(lines: list[str]) -> list[LogTemplate]:
    """Group `lines` into templates, largest first (ties: earliest first)."""
    miner = _miner()
    by_cluster: dict[int, LogTemplate] = {}
    for i, line in enumerate(lines):
        result = miner.add_log_message(line.rstrip("\n"))
        cid = result["cluster_id"]
        t = by_cluster.get(cid)
        if t is None:
            t = by_cluster[cid] = LogTemplate(template="", count=0, example=line, first_index=i)
        t.count += 1
        t.indexes.append(i)
    for cluster in miner.drain.clusters:
        if cluster.cluster_id in by_cluster:
            by_cluster[cluster.cluster_id].template = cluster.get_template()
    return sorted(by_cluster.values(), key=lambda t: (-t.count, t.first_index))

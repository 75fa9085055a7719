"""An Investigation as a Reply: summary, timeline, up to three hypotheses with their evidence, what was checked
and found normal, and what could not be checked (and what that means for the confidence)."""

from __future__ import annotations

from ..investigation import Investigation
from .reply import Reply, Section

__all__ = ["investigation_reply", "EVIDENCE_PER_HYPOTHESIS"]

EVIDENCE_PER_HYPOTHESIS = 4


def investigation_reply(inv: Investigation) -> Reply:
    timeline = "\n".join(f"• {t.at:%H:%M} — {t.text}" for t in inv.timeline[:10])
    sections = []
    for i, h in enumerate(inv.hypotheses, 1):
        shown = h.evidence[:EVIDENCE_PER_HYPOTHESIS]
        more = len(h.evidence) - len(shown)
        note = "; ".join(h.reasons[:3]) + (f" (+{more} more evidence items)" if more > 0 else "")
        sections.append(Section(title=f"{i}. {h.cause} — confidence {h.confidence:.2f}", note=note, evidence=shown))
    sections.append(Section(title="Checked", note="; ".join(inv.checked) or "nothing"))
    gaps = list(inv.gaps)
    if gaps:
        gaps.append("confidence is lowered for each system that could not be checked")
    title = f"Why: {inv.question}" if len(inv.question) < 120 else "Investigation"
    return Reply(kind="investigation", title=title, summary=inv.summary, window=inv.window,
                 text=f"*Timeline*\n{timeline}" if timeline else None, sections=sections, gaps=gaps)

"""The "Right cause?" buttons under an investigation answer ("Right call?" under a deploy verdict), and the "the
real cause was …" modal.

Each button's value is the answer's id and nothing else: what the answer claimed is read back from the store.
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
)
from slack_sdk.models.views import View

from ..feedback.votes import REAL_CAUSE_MAX

__all__ = ["FEEDBACK_YES", "FEEDBACK_PARTLY", "FEEDBACK_NO", "VERDICT_OF", "REAL_CAUSE_MODAL", "REAL_CAUSE_BLOCK",
           "FEEDBACK_BLOCKS", "feedback_blocks", "answer_id_of", "real_cause_view", "read_real_cause"]

FEEDBACK_YES, FEEDBACK_PARTLY, FEEDBACK_NO = "sre_feedback_yes", "sre_feedback_partly", "sre_feedback_no"
VERDICT_OF = {FEEDBACK_YES: "yes", FEEDBACK_PARTLY: "partly", FEEDBACK_NO: "no"}
REAL_CAUSE_MODAL = "sre_feedback_real_cause"
FEEDBACK_BLOCKS = 2  # how many blocks `feedback_blocks` adds (reserved when rendering the answer)
REAL_CAUSE_BLOCK, _CAUSE_INPUT = "real_cause", "real_cause_text"


def feedback_blocks(answer_id: str, *, verdict: bool = False) -> list[dict[str, Any]]:
    """A line asking "Right cause?" (a deploy verdict: "Right call?") and the Yes / Partly / No buttons."""
    text = ("*Right call?* Your vote is kept with this verdict; it measures the deploy check's accuracy and can "
            "lower how far its rollback goes on its own (`/sre accuracy`)." if verdict else
            "*Right cause?* Your vote is kept with this answer; it measures the bot's accuracy and can lower how "
            "far its actions go on their own (`/sre accuracy`).")
    ask = ContextBlock(elements=[MarkdownTextObject(text=text)])
    buttons = ActionsBlock(block_id=f"feedback:{answer_id}", elements=[
        ButtonElement(text="Yes", action_id=FEEDBACK_YES, value=answer_id, style="primary"),
        ButtonElement(text="Partly", action_id=FEEDBACK_PARTLY, value=answer_id),
        ButtonElement(text="No", action_id=FEEDBACK_NO, value=answer_id),
    ])
    return [ask.to_dict(), buttons.to_dict()]


def answer_id_of(blocks: list[dict[str, Any]]) -> str | None:
    """The answer id the feedback buttons in `blocks` carry, if there are any."""
    for b in blocks:
        for e in b.get("elements") or []:
            if e.get("action_id") == FEEDBACK_YES:
                return str(e.get("value"))
    return None


def real_cause_view(answer_id: str, verdict: str) -> View:
    """The optional modal after Partly or No: what the real cause was (the answer id rides in private_metadata)."""
    return View(type="modal", callback_id=REAL_CAUSE_MODAL, private_metadata=json.dumps({"answer_id": answer_id}),
                title=PlainTextObject(text="The real cause"), submit=PlainTextObject(text="Save"),
                close=PlainTextObject(text="Skip"),
                blocks=[ContextBlock(elements=[PlainTextObject(
                            text=f"Recorded: {verdict}. If you know it, what was the real cause?")]),
                        InputBlock(block_id=REAL_CAUSE_BLOCK, label="The real cause was …",
                                   element=PlainTextInputElement(action_id=_CAUSE_INPUT, multiline=True,
                                                                 max_length=REAL_CAUSE_MAX))])


def read_real_cause(view: dict[str, Any]) -> tuple[str, str]:
    """(answer id, text) from a submitted modal; empty strings when it is not in that shape."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    values = (view.get("state") or {}).get("values") or {}
    text = ((values.get(REAL_CAUSE_BLOCK) or {}).get(_CAUSE_INPUT) or {}).get("value") or ""
    answer_id = meta.get("answer_id") if isinstance(meta, dict) else ""
    return (answer_id if isinstance(answer_id, str) else ""), text

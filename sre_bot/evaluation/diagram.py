"""The reliability diagram: stated confidence against how often the answer was right, as a PNG (matplotlib).

Bars are the accuracy of each confidence bin (the number of answers in it written on the bar), the diagonal is
perfect calibration, and a second series shows the calibrated confidences when there are any. matplotlib is an
optional dependency (`pip install 'sre-bot[eval]'`): without it `reliability_png` writes nothing and says why.

The risk–coverage plot (`risk_coverage_png`): for each confidence threshold, the share of the questions answered
(x) against the share of those answers that were right (y), a line per dataset, each point labelled with its
threshold (`selective.py`'s rows). Same rule: without matplotlib or without answers it says why instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .selective import SelectiveRow, format_threshold

__all__ = ["reliability_png", "risk_coverage_png"]

_NO_MATPLOTLIB = "matplotlib is not installed (pip install 'sre-bot[eval]')"
_COLOURS = ("#4C78A8", "#E45756", "#54A24B", "#F58518", "#B279A2", "#72B7B2", "#9D755D", "#FF9DA6")


def _series(bins: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float], list[int]]:
    used = [b for b in bins if b.get("count")]
    return ([(b["lo"] + b["hi"]) / 2 for b in used], [b["accuracy"] for b in used], [b["count"] for b in used])


def _pyplot() -> Any | None:
    """matplotlib's pyplot on the file-only backend; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _save(fig: Any, ax: Any, path: Path) -> None:
    """The legend under the plot, a light grid, and the file (no timestamp or version: the same data, the same file)."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})


def reliability_png(calibration: Mapping[str, Any], path: Path, *, title: str) -> str | None:
    """Write the diagram to `path`; None on success, else the reason it was not written."""
    if not calibration.get("points"):
        return "no answer stated a confidence"
    plt = _pyplot()
    if plt is None:
        return _NO_MATPLOTLIB
    fig, ax = plt.subplots(figsize=(5.5, 5.8), dpi=110)
    try:
        ax.plot([0, 1], [0, 1], linestyle="--", color="#888888", linewidth=1, label="perfectly calibrated")
        x, acc, n = _series(calibration.get("bins") or [])
        bars = ax.bar(x, acc, width=0.09, color="#4C78A8", alpha=0.85, edgecolor="#2F4B6E",
                      label=f"stated (Brier {calibration['brier']:.3f}, ECE {calibration['ece']:.3f})")
        for rect, count in zip(bars, n, strict=False):
            ax.annotate(str(count), (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                        ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
        cal = calibration.get("bins_calibrated") or []
        if cal and calibration.get("brier_calibrated") is not None:
            cx, cacc, _ = _series(cal)
            ax.plot(cx, cacc, marker="o", color="#E45756", linewidth=1.5,
                    label=f"calibrated (Brier {calibration['brier_calibrated']:.3f}, "
                          f"ECE {calibration['ece_calibrated']:.3f})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("confidence (bin centre)")
        ax.set_ylabel("share right (top service = true root)")
        ax.set_title(f"{title}\n{calibration['points']} answers that named a cause, {calibration['right']} right",
                     fontsize=10)
        _save(fig, ax, path)
    finally:
        plt.close(fig)
    return None


def _labelled(rows: Sequence[SelectiveRow]) -> list[tuple[float, float, str]]:
    """(coverage, accuracy, label) per distinct point: thresholds that keep the same answers share one point,
    labelled with their range ("0.0–0.3")."""
    out: list[tuple[float, float, str]] = []
    used = [r for r in rows if r.accuracy is not None and r.coverage is not None]
    i = 0
    while i < len(used):
        j = i
        while j + 1 < len(used) and used[j + 1].answered == used[i].answered:
            j += 1
        lo, hi = used[i].threshold, used[j].threshold
        label = format_threshold(lo) if i == j else f"{format_threshold(lo)}–{format_threshold(hi)}"
        out.append((float(used[i].coverage or 0.0), float(used[i].accuracy or 0.0), label))
        i = j + 1
    return out


def risk_coverage_png(series: Mapping[str, Sequence[SelectiveRow]], path: Path, *, title: str) -> str | None:
    """Accuracy against coverage, a line per named series, each point labelled with its confidence threshold(s);
    None on success, else the reason it was not written."""
    drawn = {name: _labelled(rows) for name, rows in series.items()}
    drawn = {name: pts for name, pts in drawn.items() if pts}
    if not drawn:
        return "no answer stated a confidence"
    plt = _pyplot()
    if plt is None:
        return _NO_MATPLOTLIB
    fig, ax = plt.subplots(figsize=(5.5, 5.8), dpi=110)
    try:
        ax.axhline(0.9, linestyle="--", color="#888888", linewidth=1, label="right 90% of the time")
        for k, (name, pts) in enumerate(drawn.items()):
            colour = _COLOURS[k % len(_COLOURS)]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=colour, linewidth=1.5, label=name)
            for x, y, label in pts:
                ax.annotate(label, (x, y), fontsize=7, color=colour, xytext=(3, 4), textcoords="offset points",
                            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})
        ax.set_xlim(0, 1.05)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("coverage (share of the questions answered at or above the threshold)")
        ax.set_ylabel("accuracy (share of those answers right)")
        ax.set_title(title, fontsize=10)
        _save(fig, ax, path)
    finally:
        plt.close(fig)
    return None

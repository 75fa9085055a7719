"""A signal as a pure function of time: baseline x daily seasonality, events, smooth seeded noise, clamps.

Nothing is precomputed: `SignalCurve(shape, key, anchor)(t)` costs a few microseconds, so any range at any step
can be sampled, forever. Noise is value noise: one seeded Gaussian per 30 s knot (knots counted from the anchor),
interpolated linearly between knots, so the same (seed, now) always gives the same curve and a coarser step
samples the same curve.
"""

from __future__ import annotations

import hashlib
import math

from .scenario import Event, Shape

__all__ = ["SignalCurve", "stable_key", "stable_uuid", "gauss", "uniform", "NOISE_KNOT_S"]

NOISE_KNOT_S = 30.0
_MASK = (1 << 64) - 1
_DAY = 86400.0


def stable_key(*parts: object) -> int:
    """A 64-bit key from any parts (stable across processes, unlike `hash`)."""
    raw = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


def stable_uuid(*parts: object) -> str:
    """A version-4-shaped UUID from any parts, the same every time."""
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _mix(x: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit hash of `x`."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def uniform(key: int, i: int) -> float:
    """A uniform number in (0, 1) for (key, i)."""
    return ((_mix(key ^ _mix(i & _MASK)) >> 11) + 0.5) / float(1 << 53)


def gauss(key: int, i: int) -> float:
    """A standard normal number for (key, i), clipped to +-3 (Box-Muller on two seeded uniforms)."""
    u1, u2 = uniform(key, 2 * i), uniform(key, 2 * i + 1)
    z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
    return max(-3.0, min(3.0, z))


def _weight(ev: Event, t: float, anchor: float) -> float:
    """How much of the event applies at `t`: 0 before, ramping to 1, and back to 0 after `until` + `recover`."""
    at = anchor + ev.at.total_seconds()
    if t <= at:
        return 0.0
    ramp = ev.ramp.total_seconds()
    w = 1.0 if ramp <= 0 or t >= at + ramp else (t - at) / ramp
    if ev.until is not None:
        end = anchor + ev.until.total_seconds()
        if t >= end:
            rec = ev.recover.total_seconds()
            w = 0.0 if rec <= 0 or t >= end + rec else w * (1.0 - (t - end) / rec)
    return w


class SignalCurve:
    """The value of one service's signal at any unix time `t`."""

    def __init__(self, shape: Shape, key: int, anchor: float, *, unit: str | None = None) -> None:
        self.shape = shape
        self.key = key
        self.anchor = anchor
        self.lo = shape.min if shape.min is not None else 0.0
        self.hi = shape.max if shape.max is not None else math.inf
        if unit == "ratio":
            self.hi = min(self.hi, 1.0)

    def noise(self, t: float) -> float:
        x = (t - self.anchor) / NOISE_KNOT_S
        i = math.floor(x)
        f = x - i
        return gauss(self.key, i) * (1 - f) + gauss(self.key, i + 1) * f

    def clean(self, t: float) -> tuple[float, float]:
        """(value without noise, noise fraction) at `t`: baseline, seasonality and events."""
        s = self.shape
        v, noise = s.level, s.noise
        if s.seasonality:
            hour = (t % _DAY) / 3600.0
            v *= 1.0 + s.seasonality * math.cos(2.0 * math.pi * (hour - s.peak_hour) / 24.0)
        for ev in s.events:
            w = _weight(ev, t, self.anchor)
            if w <= 0:
                continue
            if ev.multiply is not None:
                v *= 1.0 + (ev.multiply - 1.0) * w
            elif ev.set is not None:
                v += (ev.set - v) * w
            elif ev.add is not None:
                v += ev.add * w
            if ev.noise is not None:
                noise += (ev.noise - noise) * w
        return v, noise

    def __call__(self, t: float) -> float:
        v, noise = self.clean(t)
        if noise:
            v *= max(0.0, 1.0 + noise * self.noise(t))
        return min(self.hi, max(self.lo, v))

"""Durations on the command line: ``90s``, ``15m``, ``12h``, ``30d``, ``2w`` and sums like ``1d12h``."""

import re

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PART = re.compile(r"(\d+)\s*([smhdw])")
_BARE = re.compile(r"\d+")


DURATION_HINT = (
    "a number with s, m, h, d or w (e.g. 30d, 12h, 15m, 90s, 2w), or a sum such as 1d12h"
)
"""What a malformed duration's message tells the user to give."""


def parse_seconds(text: str, *, bare_seconds: bool = False) -> int | None:
    """The duration in seconds, or None when malformed; ``bare_seconds`` accepts ``90`` too."""
    compact = text.strip().lower()
    if bare_seconds and _BARE.fullmatch(compact):
        return int(compact)
    parts = _PART.findall(compact)
    if not parts or _PART.sub("", compact).strip():
        return None
    return sum(int(number) * UNIT_SECONDS[unit] for number, unit in parts)

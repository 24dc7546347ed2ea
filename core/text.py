"""Text helpers shared by the families' reports, plots and error messages."""

from __future__ import annotations


def shorten(text: str, width: int = 40) -> str:
    """`text` cut to at most `width` characters, ending in "..." when it was cut."""
    return text if len(text) <= width else text[: width - 3] + "..."

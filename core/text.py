"""Text helpers shared by the families' reports, plots and error messages."""

from __future__ import annotations

from collections.abc import Sequence

MAX_LISTED_ISSUES = 20


def shorten(text: str, width: int = 40) -> str:
    """`text` cut to at most `width` characters, ending in "..." when it was cut."""
    return text if len(text) <= width else text[: width - 3] + "..."


def issue_report(subject: str, issues: Sequence[object], hint: str) -> str:
    """The message "<subject> has N errors:", one line per issue (the first MAX_LISTED_ISSUES, then a count), then
    `hint`: every multi-error message (schedules, storyboards) has this one shape."""
    listed = "\n".join(f"  - {issue}" for issue in issues[:MAX_LISTED_ISSUES])
    more = len(issues) - MAX_LISTED_ISSUES
    if more > 0:
        listed += f"\n  - ... and {more} more"
    plural = "s" if len(issues) != 1 else ""
    return f"{subject} has {len(issues)} error{plural}:\n{listed}\n{hint}"

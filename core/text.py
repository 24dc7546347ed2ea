"""Text helpers shared by the families' reports, plots and error messages."""

from __future__ import annotations

from collections.abc import Sequence

MAX_LISTED_ISSUES = 20
# Characters in one prompt (a keyframe's, a negative, a stylize prompt): CLIP encodes 77 tokens at a time, so encoding
# grows with length (100,000 characters took about a minute on the CPU); 4,000 is about 1,000 tokens, seconds at most.
MAX_PROMPT_CHARS = 4_000


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


def check_prompt(text: object, field: str) -> str:
    """`text` when it is a string of at most MAX_PROMPT_CHARS characters; ValueError naming `field` and the limit."""
    if not isinstance(text, str):
        raise ValueError(f"'{field}' must be text; got {type(text).__name__}.")
    if len(text) > MAX_PROMPT_CHARS:
        raise ValueError(f"'{field}' is {len(text)} characters long; a prompt takes at most {MAX_PROMPT_CHARS} "
                         "characters (CLIP reads 77 tokens at a time): shorten it.")
    return text

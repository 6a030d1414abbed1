"""Consent to share contact details: the text people agree to, and a record of each change."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from app import models

FIELD_NAMES = {"email": "email address", "phone": "phone number", "url": "LinkedIn or website"}

# A sharing form shows this sentence once, with "what I tick" for {what}, above one box per
# field ("My email address"); each consent given or withdrawn stores the sentence as that box
# completes it ("Share my email address with…"), word for word. Change it by adding a new
# wording, never by editing a recorded one.
_WORDING = (
    "Share {what} with people I connect with here (we both chose to stay in touch) and in "
    "the organiser's list of connections, until I untick it."
)
SHARE_INTRO = _WORDING.format(what="what I tick")
# Added to the record when the organiser ticked the box for someone (a walk-up at the desk).
BY_ORGANISER = " [ticked by the organiser on the attendee's behalf]"


# The "remember me" box of a series' join form, and the "name me" box of every join form;
# recorded word for word, like the sharing consents, in the records of fields "series" and
# "listed".
REMEMBER_TEXT = (
    "Remember me for the next mixers of this series: keep my name, organisation and answers, "
    "whom I met and how much of my best possible common ground I found, so that next time my "
    "answers are filled in for me, I meet new faces, and a quiet evening is made up for. "
    "Until I untick it or delete my data."
)
LISTED_TEXT = (
    "Show my name and organisation in the organiser's map of who met whom (otherwise I "
    "appear there as an anonymous dot)."
)


def record_choice(
    *, attendee: models.Attendee, field: str, text: str, granted: bool, now: datetime
) -> None:
    """One row for a yes/no consent given or withdrawn (being remembered, being named)."""
    attendee.consents.append(
        models.Consent(field=field, granted=granted, text=text, recorded_at=now)
    )


def box_label(field: str) -> str:
    return f"My {FIELD_NAMES[field]}"


def consent_text(field: str) -> str:
    """The sentence someone agrees to by ticking the box of this field."""
    return _WORDING.format(what=f"my {FIELD_NAMES[field]}")


def sharing_form() -> dict[str, object]:
    """What a page needs to show the sharing boxes: the sentence, then a label per field."""
    return {"intro": SHARE_INTRO, "boxes": {field: box_label(field) for field in FIELD_NAMES}}


def record(
    *,
    attendee: models.Attendee,
    before: Iterable[str],
    after: Iterable[str],
    now: datetime,
    by_organiser: bool = False,
) -> None:
    """One row per field whose consent was given or withdrawn by this change."""
    old, new = set(before), set(after)
    for field in sorted(old ^ new):
        text = consent_text(field) + (BY_ORGANISER if by_organiser else "")
        attendee.consents.append(
            models.Consent(field=field, granted=field in new, text=text, recorded_at=now)
        )


def history(attendee: models.Attendee) -> list[dict[str, object]]:
    return [
        {
            "field": c.field,
            "granted": c.granted,
            "text": c.text,
            "recorded_at": c.recorded_at.isoformat(),
        }
        for c in attendee.consents
    ]

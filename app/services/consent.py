"""Consent to share contact details: the text people agree to, and a record of each change."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from app import models

FIELD_NAMES = {"email": "email address", "phone": "phone number", "url": "LinkedIn or website"}

# Shown next to each sharing box, and stored word for word with every consent given or
# withdrawn. Change it by adding a new wording, never by editing a recorded one.
_WORDING = (
    "Share my {field} with the people I connect with at this event (someone I met, when we "
    "both choose to stay in touch), and with the organiser in their list of those "
    "connections. I can withdraw this at any time."
)
# Added to the record when the organiser ticked the box for someone (a walk-up at the desk).
BY_ORGANISER = " [ticked by the organiser on the attendee's behalf]"


def consent_text(field: str) -> str:
    return _WORDING.format(field=FIELD_NAMES[field])


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

"""After the event: who met whom (CSV and JSON for the organiser), vCards for attendees.

Contact details travel only along a mutual connection, and only the fields each person
consents to share as they stand at export time.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import vobject
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import models
from app.schemas import ConsentRecord, MyData
from app.services import attendees as attendee_service
from app.services import consent, retention, snapshot
from app.services import series as series_service
from app.services.rounds import all_rounds, reasons_from_json
from app.services.stats import pair_reasons
from app.services.views import GONE, me_link, me_read, series_link

# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CONTACT_FIELDS = ("email", "phone", "url")


def safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: a leading formula trigger gets a quote before it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


@dataclass(frozen=True)
class _Person:
    id: str
    name: str
    organisation: str
    contact: dict[str, str]


def _people(session: Session, event: models.Event) -> dict[str, models.Attendee]:
    return {
        a.id: a
        for a in session.scalars(
            select(models.Attendee).where(models.Attendee.event_id == event.id)
        )
    }


def _interests(session: Session, event: models.Event) -> set[tuple[str, str]]:
    return {
        (a, b)
        for a, b in session.execute(
            select(models.Interest.from_id, models.Interest.to_id).where(
                models.Interest.event_id == event.id
            )
        )
    }


def connections_document(session: Session, event: models.Event) -> dict[str, Any]:
    """Every meeting, and per person their connections with the contacts they may see."""
    people = _people(session, event)
    asked = _interests(session, event)
    names = {pid: p.name for pid, p in people.items()}

    def person(pid: str) -> dict[str, str]:
        found = people.get(pid)
        if found is None:
            return {"id": "", "name": GONE, "organisation": ""}
        return {"id": pid, "name": found.name, "organisation": found.organisation}

    meetings: list[dict[str, Any]] = []
    for round_ in all_rounds(session, event):
        for group in round_.groups:
            reasons = reasons_from_json(group.reasons)
            members = list(group.members)
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    first, second = people.get(a), people.get(b)
                    common: list[str] = []
                    if first is not None and second is not None:
                        found = pair_reasons(reasons, first, second, event.questions)
                        common = [r.text(names) for r in found]
                    a_asked, b_asked = (a, b) in asked, (b, a) in asked
                    meetings.append(
                        {
                            "round": round_.index,
                            "table": group.table,
                            "people": [person(a), person(b)],
                            "common_ground": common,
                            "asked_to_stay_in_touch": [a_asked, b_asked],
                            "connection": a_asked and b_asked,
                        }
                    )
    directory = []
    for pid in sorted(people, key=lambda p: people[p].name.casefold()):
        mutual = sorted(
            (b for (a, b) in asked if a == pid and (b, pid) in asked and b in people),
            key=lambda other: people[other].name.casefold(),
        )
        directory.append(
            {
                **person(pid),
                "connections": [
                    {**person(other), "contact": shared(people[other])} for other in mutual
                ],
            }
        )
    return {
        "event": {"id": event.id, "name": event.name},
        "meetings": meetings,
        "people": directory,
    }


def shared(attendee: models.Attendee) -> dict[str, str]:
    contact = attendee_service.shared_contact(attendee)
    return {k: v for k, v in contact.model_dump().items() if v}


CSV_COLUMNS = (
    "round",
    "table",
    "person_a",
    "organisation_a",
    "person_b",
    "organisation_b",
    "common_ground",
    "a_asked_to_stay_in_touch",
    "b_asked_to_stay_in_touch",
    "connection",
    *(f"a_{field}" for field in CONTACT_FIELDS),
    *(f"b_{field}" for field in CONTACT_FIELDS),
)


def connections_csv(session: Session, event: models.Event) -> bytes:
    """One row per meeting; contacts only on connections. UTF-8 with a BOM for spreadsheets."""
    document = connections_document(session, event)
    people = _people(session, event)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for meeting in document["meetings"]:
        a, b = meeting["people"]
        contacts: list[str] = []
        for who in (a, b):
            found = people.get(who["id"]) if meeting["connection"] else None
            given = shared(found) if found is not None else {}
            contacts.extend(given.get(field, "") for field in CONTACT_FIELDS)
        row = [
            meeting["round"],
            meeting["table"],
            a["name"],
            a["organisation"],
            b["name"],
            b["organisation"],
            "; ".join(meeting["common_ground"]),
            "yes" if meeting["asked_to_stay_in_touch"][0] else "no",
            "yes" if meeting["asked_to_stay_in_touch"][1] else "no",
            "yes" if meeting["connection"] else "no",
            *contacts,
        ]
        writer.writerow([safe_cell(cell) for cell in row])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def my_data(session: Session, me: models.Attendee, *, now: datetime, retention_days: int) -> MyData:
    """An attendee's data export: profile, consent record, people met, connections."""
    event = session.get_one(models.Event, me.event_id)
    view = me_read(snapshot.load(session, me.event_id), me, now)
    return MyData(
        exported_at=now,
        event=view.event,
        profile=view.attendee,
        joined_at=me.joined_at,
        consents=[ConsentRecord.model_validate(row) for row in consent.history(me)],
        met=view.met,
        connections=view.connections,
        deleted_after=(
            retention.purge_due_at(session, event, days=retention_days)
            if event.finished_at is not None
            else None
        ),
    )


def connections_vcf(session: Session, me: models.Attendee) -> bytes:
    """vCard 3.0, one card per mutual connection, with the fields they consented to share."""
    outgoing, incoming = attendee_service.interests_of(session, me)
    cards: list[str] = []
    for pid in sorted(outgoing & incoming):
        other = session.get(models.Attendee, pid)
        if other is None:
            continue
        card = vobject.vCard()
        card.add("fn").value = other.name
        card.add("n").value = vobject.vcard.Name(family="", given=other.name)
        if other.organisation:
            card.add("org").value = [other.organisation]
        contact = shared(other)
        if "email" in contact:
            email = card.add("email")
            email.value = contact["email"]
            email.type_param = "INTERNET"
        if "phone" in contact:
            card.add("tel").value = contact["phone"]
        if "url" in contact:
            card.add("url").value = contact["url"]
        cards.append(card.serialize())
    return "".join(cards).encode("utf-8")


# ------------------------------------------------------------------ personal links


OWN_PHONE = "joined on their own phone"
LINK_COLUMNS = ("name", "organisation", "email", "presence", "link", "note")


def personal_link(
    attendee: models.Attendee, *, organiser_token: str, public_url: str
) -> str | None:
    """The personal link of someone the organiser added (import, walk-up); None for someone
    who joined on their own phone."""
    token = attendee_service.token_for_organiser(attendee, organiser_token)
    return None if token is None else me_link(public_url, token)


def links_document(
    session: Session, event: models.Event, *, organiser_token: str, public_url: str
) -> dict[str, Any]:
    """Everyone, by name, with the personal link the organiser can send them where there is one."""
    people = sorted(_people(session, event).values(), key=lambda a: (a.name.casefold(), a.id))
    rows = []
    for attendee in people:
        link = personal_link(attendee, organiser_token=organiser_token, public_url=public_url)
        # The organiser typed or imported these contacts; someone who joined on their own
        # phone shares theirs only with the people they choose.
        email = (attendee.contact or {}).get("email") if link is not None else None
        rows.append(
            {
                "id": attendee.id,
                "name": attendee.name,
                "organisation": attendee.organisation,
                "email": email,
                "presence": attendee.presence,
                "link": link,
                "joined_on_own_phone": link is None,
            }
        )
    return {"event": {"id": event.id, "name": event.name}, "people": rows}


def links_csv(
    session: Session, event: models.Event, *, organiser_token: str, public_url: str
) -> bytes:
    """The links document as a spreadsheet for a mail merge. UTF-8 with a BOM."""
    document = links_document(
        session, event, organiser_token=organiser_token, public_url=public_url
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(LINK_COLUMNS)
    for person in document["people"]:
        row = [
            person["name"],
            person["organisation"],
            person["email"] or "",
            person["presence"],
            person["link"] or "",
            OWN_PHONE if person["joined_on_own_phone"] else "",
        ]
        writer.writerow([safe_cell(cell) for cell in row])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


SERIES_LINK_COLUMNS = ("name", "organisation", "remembered_since", "last_seen", "link")


def series_links_csv(session: Session, series: models.Series, *, public_url: str) -> bytes:
    """Every member of the series (everyone in its memory asked to be remembered) with their
    personal series link, for the invitation to the next mixer: opened on any phone, it
    fills in their join form. UTF-8 with a BOM for spreadsheets."""
    members = session.scalars(
        select(models.SeriesMember).where(models.SeriesMember.series_id == series.id)
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SERIES_LINK_COLUMNS)
    for member in sorted(members, key=lambda m: (m.name.casefold(), m.id)):
        row = [
            member.name,
            member.organisation,
            member.consented_at.date().isoformat(),
            member.last_seen_at.date().isoformat(),
            series_link(public_url, series_service.token_of(series, member)),
        ]
        writer.writerow([safe_cell(cell) for cell in row])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")

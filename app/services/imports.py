"""Bringing a guest list in: CSV from Eventbrite, Luma, pretix or a spreadsheet.

Every row is checked first; a file with any bad row imports nothing and says which rows
and why. Columns are recognised by their usual names, and the organiser can correct it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError
from sqlalchemy.orm import Session

from app import models
from app.errors import Invalid, RowErrors
from app.schemas import JoinRequest
from app.services import attendees as attendee_service
from app.services import series as series_service
from matching.scoring import normalise

MAX_ROWS = 5000

# Usual column names (normalised) of Eventbrite, Luma, pretix and plain spreadsheets.
KNOWN_COLUMNS: dict[str, str] = {
    "name": "name",
    "full name": "name",
    "attendee name": "name",  # pretix
    "first name": "first_name",  # Eventbrite, Luma (first_name)
    "first_name": "first_name",
    "given name": "first_name",
    "attendee name: given name": "first_name",  # pretix
    "last name": "last_name",
    "last_name": "last_name",
    "surname": "last_name",
    "family name": "last_name",
    "attendee name: family name": "last_name",  # pretix
    "email": "email",
    "e-mail": "email",  # pretix
    "email address": "email",
    "attendee email": "email",
    "organisation": "organisation",
    "organization": "organisation",
    "company": "organisation",  # Eventbrite, pretix
    "company name": "organisation",
    "affiliation": "organisation",
    "phone": "phone",
    "phone number": "phone",  # pretix
    "phone_number": "phone",  # Luma
    "cell phone": "phone",  # Eventbrite
    "website": "url",
    "url": "url",
    "linkedin": "url",
    # The personal series link the organiser sent in the invitation (the series' links.csv).
    "series link": "series_link",
    "series_link": "series_link",
    "series token": "series_link",
    "series_token": "series_link",
}
FIELDS = (
    "name",
    "first_name",
    "last_name",
    "email",
    "organisation",
    "phone",
    "url",
    "series_link",
    "ignore",
)


@dataclass
class ImportPlan:
    columns: list[str]
    mapping: dict[str, str]
    rows: list[JoinRequest] = field(default_factory=list)
    errors: list[dict[str, object]] = field(default_factory=list)
    # Per row: the series member its series link names (None: a newcomer to the series).
    members: list[str | None] = field(default_factory=list)
    # Member id -> the line that named them first: one person, one row.
    member_lines: dict[str, int] = field(default_factory=dict)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the file is not UTF-8 text (save it as CSV UTF-8)") from None


def detect_mapping(columns: list[str], event: models.Event) -> dict[str, str]:
    """What each column holds: a contact field, a question's answers, or nothing."""
    questions = {}
    for q in event.questions:
        questions[normalise(str(q["key"]))] = f"answers:{q['key']}"
        questions[normalise(str(q["label"]))] = f"answers:{q['key']}"
    mapping: dict[str, str] = {}
    for column in columns:
        key = " ".join(column.strip().casefold().split())
        mapping[column] = KNOWN_COLUMNS.get(key) or questions.get(normalise(column), "ignore")
    return mapping


def _check_mapping(mapping: Mapping[str, str], columns: list[str], event: models.Event) -> None:
    keys = {str(q["key"]) for q in event.questions}
    for column, target in mapping.items():
        if column not in columns:
            raise Invalid(f"mapping: the file has no column {column!r}")
        if target.startswith("answers:"):
            if target.removeprefix("answers:") not in keys:
                raise Invalid(f"mapping: {column!r} names unknown question {target!r}")
        elif target not in FIELDS:
            raise Invalid(
                f"mapping: {column!r} maps to {target!r}; use one of "
                f"{', '.join(FIELDS)} or answers:<question key>"
            )
    targets = set(mapping.values())
    if "name" not in targets and "first_name" not in targets:
        raise Invalid("mapping: no column holds the name (name, or first and last name)")


def parse_corrections(text: str | None) -> dict[str, str]:
    """The organiser's corrections to the detected mapping, as a JSON object."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise Invalid("mapping: not valid JSON") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise Invalid("mapping: expected a JSON object of column names to fields")
    return value


def _split(cell: str) -> list[str]:
    separator = ";" if ";" in cell else ","
    return [part.strip() for part in cell.split(separator) if part.strip()]


def read(
    raw: bytes,
    event: models.Event,
    corrections: Mapping[str, str] | None = None,
    *,
    session: Session,
) -> ImportPlan:
    """Parse and check every row; nothing is saved here (the session only reads the series'
    members that series links name)."""
    text = _decode(raw)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        columns = [c.strip() for c in next(reader)]
    except StopIteration:
        raise Invalid("the file is empty") from None
    except csv.Error as error:
        raise Invalid(f"line 1: not CSV ({error})") from None
    if not any(columns):
        raise Invalid("the file is empty: the first line should name the columns")
    if len(set(columns)) != len(columns):
        raise Invalid("line 1: two columns have the same name")
    mapping = {**detect_mapping(columns, event), **(corrections or {})}
    _check_mapping(mapping, columns, event)
    plan = ImportPlan(columns=columns, mapping=mapping)
    try:
        for line, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(plan.rows) + len(plan.errors) >= MAX_ROWS:
                raise Invalid(f"the file has more than {MAX_ROWS} rows")
            _row(plan, line, dict(zip(columns, cells, strict=False)), event, session)
    except csv.Error as error:
        raise Invalid(f"line {reader.line_num}: not CSV ({error})") from None
    return plan


def series_token_in(cell: str) -> str:
    """The series token of a cell holding a personal series link, or the bare token."""
    if "token=" in cell:
        found = parse_qs(urlsplit(cell).query).get("token")
        if found:
            return found[0].strip()
    return cell.strip()


def _member(
    plan: ImportPlan, line: int, event: models.Event, session: Session, link: str
) -> models.SeriesMember:
    """The series member a row's series link names; Invalid says why not."""
    if event.series_id is None:
        raise Invalid("this event is not part of a series")
    member = series_service.member_by_token(session, event.series_id, series_token_in(link))
    if member is None:
        raise Invalid("not a series link of this series (or the person was forgotten)")
    if member.id in plan.member_lines:
        raise Invalid(f"the same person's series link as line {plan.member_lines[member.id]}")
    if series_service.attending(session, event=event, member=member):
        raise Invalid("this person is already in this event")
    return member


def _remembered_answers(event: models.Event, member: models.SeriesMember) -> dict[str, list[str]]:
    """The member's remembered answers that still fit this event's questions."""
    kept: dict[str, list[str]] = {}
    for key, values in (member.answers or {}).items():
        try:
            kept.update(attendee_service.check_answers(event, {str(key): list(values)}))
        except Invalid:
            continue  # a question changed since: they answer it again
    return kept


def _row(
    plan: ImportPlan,
    line: int,
    values: dict[str, str],
    event: models.Event,
    session: Session,
) -> None:
    fields: dict[str, str] = {}
    answers: dict[str, list[str]] = {}
    for column, target in plan.mapping.items():
        value = (values.get(column) or "").strip()
        if not value or target == "ignore":
            continue
        if target.startswith("answers:"):
            answers.setdefault(target.removeprefix("answers:"), []).extend(_split(value))
        else:
            fields[target] = value
    name = fields.get("name") or " ".join(
        part for part in (fields.get("first_name"), fields.get("last_name")) if part
    )
    member: models.SeriesMember | None = None
    if "series_link" in fields:
        try:
            member = _member(plan, line, event, session, fields["series_link"])
        except Invalid as error:
            plan.errors.append({"line": line, "field": "series_link", "msg": error.detail})
            return
        # What the guest list leaves blank, the series remembers (never the other way).
        answers = {**_remembered_answers(event, member), **answers}
    try:
        request = JoinRequest.model_validate(
            {
                "name": name,
                "organisation": fields.get("organisation")
                or (member.organisation if member is not None else ""),
                "answers": answers,
                "contact": {k: fields[k] for k in ("email", "phone", "url") if k in fields},
                # Nobody consented to share anything by being on a guest list.
                "share": [],
            }
        )
        attendee_service.check_answers(event, request.answers)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        plan.errors.append(
            {"line": line, "field": where, "msg": str(first["msg"]).removeprefix("Value error, ")}
        )
        return
    except Invalid as error:
        plan.errors.append({"line": line, "field": "answers", "msg": error.detail})
        return
    plan.rows.append(request)
    plan.members.append(None if member is None else member.id)
    if member is not None:
        plan.member_lines[member.id] = line


@dataclass(frozen=True)
class Imported:
    attendee: models.Attendee
    token: str


def save(
    *, session: Session, event: models.Event, plan: ImportPlan, now: datetime, organiser_token: str
) -> list[Imported]:
    """Add every row as a registered attendee (checked in when they arrive), each with a
    personal link the organiser can show again (see attendees.add_by_organiser)."""
    if plan.errors:
        raise RowErrors(plan.errors)
    created = []
    for request, member_id in zip(plan.rows, plan.members, strict=True):
        attendee, token = attendee_service.add_by_organiser(
            session=session,
            event=event,
            data=request,
            now=now,
            presence="registered",
            organiser_token=organiser_token,
        )
        if member_id is not None:
            series_service.tie_imported(session=session, attendee=attendee, member_id=member_id)
        created.append(Imported(attendee, token))
    return created

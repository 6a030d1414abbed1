"""HTML pages: create an event, join, the attendee's phone page, projector and console.

Pages are server-rendered shells; live content comes from the JSON API and its streams.
A token arrives once in a link and is then kept in an HttpOnly cookie.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.deps import (
    ATTENDEE_COOKIE,
    ORGANISER_COOKIE,
    ClientDep,
    ClockDep,
    FailureGuard,
    LimitsDep,
    PublicUrlDep,
    ReadSession,
    SettingsDep,
    WriteSession,
    secure_cookies,
)
from app.errors import DomainError, NotFound
from app.schemas import EventCreate, JoinRequest, QuestionSpec, default_questions
from app.security import normalise_join_code, projector_key_for
from app.services import attendees as attendee_service
from app.services import consent, printing, views
from app.services import events as event_service
from app.services import network as network_service
from app.services import series as series_service
from app.services.consent import sharing_form

COOKIE_SECONDS = 60 * 60 * 24 * 30


def _find(folder: str) -> Path:
    """A folder of the project: beside the package in a checkout, or installed as data."""
    for candidate in (
        Path(__file__).resolve().parents[2] / folder,
        Path(sys.prefix) / "share" / "commonground" / folder,
    ):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"the {folder} folder was not found")


def find_static() -> Path:
    return _find("static")


# Starlette's environment autoescapes every template.
templates = Jinja2Templates(directory=_find("templates"))


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    response: HTMLResponse = templates.TemplateResponse(
        request, name, context, status_code=status_code
    )
    return response


router = APIRouter(include_in_schema=False)

KIND_LABELS = {
    "shared": "Common ground (shared answers)",
    "offers": "What people can offer",
    "seeks": "What people are looking for",
    "different": "Mix people who differ in",
}


def qr_svg(url: str) -> str:
    """An inline SVG QR code (segno escapes nothing user-typed: the URL is ours); a viewBox
    instead of a fixed size, so the page's CSS sets how big it is drawn."""
    return str(segno.make(url, error="m").svg_inline(scale=6, border=2, dark="#111", omitsize=True))


def _cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        max_age=COOKIE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


# ------------------------------------------------------------------ create an event


def _form_defaults() -> dict[str, Any]:
    return {
        "name": "",
        "rounds": 6,
        "talk_minutes": 4,
        "changeover_seconds": 60,
        "group_size": "2",
        "odd": "trio",
        "avoid_same_organisation": True,
        "auto_advance": False,
        "tables": "",
    }


def _question_rows(questions: list[QuestionSpec]) -> list[dict[str, Any]]:
    return [
        {
            "key": q.key,
            "label": q.label,
            "kind": q.kind,
            "kind_label": KIND_LABELS[q.kind],
            "suggestions": q.suggestions,
        }
        for q in questions
    ]


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(
        request,
        "home.html",
        {"form": _form_defaults(), "errors": {}, "questions": _question_rows(default_questions())},
    )


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


async def read_form(request: Request) -> FormData:
    """The submitted form (parsed on the event loop, before the route's worker thread)."""
    return await request.form(max_fields=200, max_part_size=64 * 1024)


FormDep = Annotated[FormData, Depends(read_form)]


@router.post("/events/new", response_class=HTMLResponse)
def create_event_page(
    request: Request,
    form: FormDep,
    session: WriteSession,
    clock: ClockDep,
    settings: SettingsDep,
    base: PublicUrlDep,
) -> HTMLResponse:
    values = {k: str(v) for k, v in form.items()}
    questions = default_questions()
    for q in questions:
        q.label = values.get(f"label_{q.key}", q.label).strip() or q.label
        q.suggestions = _split(values.get(f"suggestions_{q.key}", ""))
        if q.kind in ("shared", "different") and values.get(f"kind_{q.key}") in (
            "shared",
            "different",
        ):
            q.kind = "different" if values[f"kind_{q.key}"] == "different" else "shared"
    shown = {
        **_form_defaults(),
        **values,
        "avoid_same_organisation": "avoid_same_organisation" in values,
        "auto_advance": "auto_advance" in values,
    }
    errors: dict[str, str] = {}
    try:
        minutes = float(values.get("talk_minutes") or 4)
        data = EventCreate.model_validate(
            {
                "name": values.get("name", ""),
                "rounds": int(values.get("rounds") or 6),
                "round_seconds": round(minutes * 60),
                "changeover_seconds": int(values.get("changeover_seconds") or 0),
                "group_size": int(values.get("group_size") or 2),
                "odd": values.get("odd", "trio"),
                "avoid_same_organisation": shown["avoid_same_organisation"],
                "auto_advance": shown["auto_advance"],
                "tables": _split(values.get("tables", "")) or None,
                "questions": [q.model_dump() for q in questions],
            }
        )
    except ValueError as error:
        if isinstance(error, ValidationError):
            for item in error.errors():
                field = str(item["loc"][0]) if item["loc"] else "name"
                errors[field] = f"{field.replace('_', ' ').capitalize()}: {item['msg']}"
        else:
            errors["rounds"] = "Rounds, minutes and seconds must be numbers"
        return render(
            request,
            "home.html",
            {"form": shown, "errors": errors, "questions": _question_rows(questions)},
            status_code=422,
        )
    if settings.admin_token is not None:
        raise DomainError("this server creates events through its API with the admin token")
    event, token, _ = event_service.create_event(session=session, data=data, now=clock.now())
    links = views.links(base, event, token)
    response = render(
        request,
        "created.html",
        {
            "name": event.name,
            "links": links,
            "join_code": event.join_code,
            "join_qr": qr_svg(links.join),
        },
        status_code=201,
    )
    _cookie(response, request, ORGANISER_COOKIE, token)
    return response


# ------------------------------------------------------------------ join


@router.get("/join", response_class=HTMLResponse)
def join_by_code(request: Request, code: Annotated[str, Query(max_length=12)] = "") -> Response:
    if code:
        return RedirectResponse(f"/join/{normalise_join_code(code)}", status_code=303)
    return render(request, "join_code.html", {"code": "", "error": None})


def _join_context(
    event: Any, form: dict[str, Any], errors: dict[str, str], *, returning: bool = False
) -> dict[str, Any]:
    return {
        # An event of a series offers "remember me"; a returning person sees it ticked.
        "series": event.series_id is not None,
        "returning": returning,
        "remember_text": consent.REMEMBER_TEXT,
        "listed_text": consent.LISTED_TEXT,
        "event_name": event.name,
        "join_code": event.join_code,
        "questions": [
            QuestionSpec.model_validate(q) for q in event.questions if q["kind"] != "different"
        ]
        + [QuestionSpec.model_validate(q) for q in event.questions if q["kind"] == "different"],
        "form": form,
        "errors": errors,
        "consent": sharing_form(),
    }


def _empty_join_form() -> dict[str, Any]:
    return {
        "name": "",
        "organisation": "",
        "chosen": {},
        "free": {},
        "contact": {},
        "share": [],
        "remember": False,
        "listed": False,
    }


def _remembered_form(event: Any, member: Any) -> dict[str, Any]:
    """A returning person's join form, filled in from the series' memory, to edit."""
    form = _empty_join_form()
    form["name"] = member.name
    form["organisation"] = member.organisation
    form["remember"] = True
    for q in event.questions:
        given = [str(v) for v in (member.answers or {}).get(q["key"], [])]
        suggestions = set(q.get("suggestions", []))
        form["chosen"][q["key"]] = [v for v in given if v in suggestions]
        form["free"][q["key"]] = ", ".join(v for v in given if v not in suggestions)
    return form


def _series_member(request: Request, session: Any, event: Any) -> Any:
    """The series member this phone's cookie recognises for the event's series, if any."""
    if event.series_id is None:
        return None
    token = request.cookies.get(series_service.cookie_name(event.series_id))
    return series_service.prefill(session, event, token)


@router.get("/join/{join_code}", response_class=HTMLResponse)
def join_page(
    request: Request, join_code: str, session: ReadSession, limits: LimitsDep, client: ClientDep
) -> HTMLResponse:
    limits.check_failures(client)
    try:
        event = event_service.event_by_join_code(session, normalise_join_code(join_code)[:12])
    except NotFound:
        limits.failed(client)
        return render(
            request,
            "join_code.html",
            {
                "code": join_code[:12],
                "error": "No event has this join code. Check it and try again.",
            },
            status_code=404,
        )
    member = _series_member(request, session, event)
    if member is not None:
        form = _remembered_form(event, member)
        return render(request, "join.html", _join_context(event, form, {}, returning=True))
    return render(request, "join.html", _join_context(event, _empty_join_form(), {}))


@router.post("/join/{join_code}", response_class=HTMLResponse)
def join_submit(
    request: Request,
    join_code: str,
    form: FormDep,
    session: WriteSession,
    clock: ClockDep,
    limits: LimitsDep,
    client: ClientDep,
) -> Response:
    limits.join(client)
    event = event_service.event_by_join_code(session, normalise_join_code(join_code)[:12])
    chosen: dict[str, list[str]] = {}
    free: dict[str, str] = {}
    answers: dict[str, list[str]] = {}
    for q in event.questions:
        key = q["key"]
        chosen[key] = [str(v) for v in form.getlist(f"answers_{key}")]
        free[key] = str(form.get(f"free_{key}", ""))
        values = chosen[key] + _split(free[key])
        if values:
            answers[key] = values
    contact = {
        field: str(form.get(f"contact_{field}", "")).strip() for field in ("email", "phone", "url")
    }
    shown: dict[str, Any] = {
        "name": str(form.get("name", "")),
        "organisation": str(form.get("organisation", "")),
        "chosen": chosen,
        "free": free,
        "contact": contact,
        "share": [str(v) for v in form.getlist("share")],
        "remember": form.get("remember") == "1",
        "listed": form.get("listed") == "1",
    }
    member = _series_member(request, session, event)
    remembered: series_service.Remembered | None = None
    errors: dict[str, str] = {}
    try:
        data = JoinRequest.model_validate(
            {
                "name": shown["name"],
                "organisation": shown["organisation"],
                "answers": answers,
                "contact": {k: v for k, v in contact.items() if v},
                "share": [s for s in shown["share"] if s in ("email", "phone", "url")],
                "listed": shown["listed"],
                "remember": bool(shown["remember"]) and member is None,
            }
        )
        if member is not None and shown["remember"]:
            # Recognised by this phone's cookie: the series token it holds, never a name.
            data.series_token = request.cookies.get(series_service.cookie_name(member.series_id))
        # Checked before anything is written: an error leaves no half-made attendee.
        series_service.check_join(session=session, event=event, data=data)
        attendee, token = attendee_service.join(
            session=session, event=event, data=data, now=clock.now()
        )
        remembered = series_service.after_join(
            session=session, event=event, attendee=attendee, data=data, now=clock.now()
        )
        if member is not None and not shown["remember"]:
            # Unticked by someone the series remembered: it forgets them.
            series_service.forget(session=session, member_id=member.id)
    except ValidationError as error:
        for item in error.errors():
            loc = [str(part) for part in item["loc"]]
            field = "contact_" + loc[1] if loc[0] == "contact" and len(loc) > 1 else loc[0]
            if loc[0] == "answers" and len(loc) > 1:
                field = "answers_" + loc[1]
            errors.setdefault(field, str(item["msg"]).removeprefix("Value error, "))
    except DomainError as error:
        errors["name"] = str(error.detail)
    if errors:
        return render(
            request,
            "join.html",
            _join_context(event, shown, errors, returning=member is not None),
            status_code=422,
        )
    response = RedirectResponse("/me", status_code=303)
    _cookie(response, request, ATTENDEE_COOKIE, token)
    if event.series_id is not None:
        name = series_service.cookie_name(event.series_id)
        if remembered is not None:
            _cookie(response, request, name, remembered.token)
        elif member is not None:
            response.delete_cookie(name)
    return response


# ------------------------------------------------------------------ series


@router.get("/series/me", response_class=HTMLResponse)
def series_link_page(
    request: Request,
    session: ReadSession,
    limits: LimitsDep,
    client: ClientDep,
    token: Annotated[str, Query(min_length=1, max_length=100)],
) -> Response:
    """The personal series link: keep the token on this phone, then open the series' next
    event (its join form is filled in from the memory)."""
    with FailureGuard(limits, client):
        member = series_service.member_by_series_token(session, token)
    upcoming = series_service.open_event(session, member.series_id)
    target = "/join" if upcoming is None else f"/join/{upcoming.join_code}"
    response = RedirectResponse(target, status_code=303)
    _cookie(response, request, series_service.cookie_name(member.series_id), token)
    return response


@router.get("/series/{series_id}", response_class=HTMLResponse)
def series_page(
    request: Request,
    series_id: str,
    session: ReadSession,
    limits: LimitsDep,
    client: ClientDep,
    token: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The organiser's page of a series: its events with their statistics, its network."""
    if token is not None:
        with FailureGuard(limits, client):
            series_service.organiser_series(session, series_id[:16], token)
        response = RedirectResponse(f"/series/{series_id[:16]}", status_code=303)
        _cookie(response, request, ORGANISER_COOKIE, token)
        return response
    with FailureGuard(limits, client):
        series = series_service.organiser_series(
            session, series_id[:16], request.cookies.get(ORGANISER_COOKIE)
        )
    read = series_service.series_read(session, series)
    net = network_service.collect_series(session, series)
    return render(
        request,
        "series.html",
        {
            "series": read,
            "figures": network_service.figures(net),
            # Built from escaped text only (see network.svg).
            "picture": Markup(network_service.svg(net)),
        },
    )


# ------------------------------------------------------------------ the attendee's page


@router.get("/me", response_class=HTMLResponse)
def me_page(
    request: Request,
    session: ReadSession,
    limits: LimitsDep,
    client: ClientDep,
    token: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    if token is not None:
        # The personal link: keep the token in a cookie, then show a clean address.
        with FailureGuard(limits, client):
            attendee_service.attendee_by_token(session, token)
        response = RedirectResponse("/me", status_code=303)
        _cookie(response, request, ATTENDEE_COOKIE, token)
        return response
    if not request.cookies.get(ATTENDEE_COOKIE):
        return RedirectResponse("/join", status_code=303)
    return render(
        request,
        "me.html",
        {
            "consent": sharing_form(),
            "listed_text": consent.LISTED_TEXT,
            "remember_text": consent.REMEMBER_TEXT,
        },
    )


# ------------------------------------------------------------------ projector and console


@router.get("/events/{event_id}/projector", response_class=HTMLResponse)
def projector_page(
    request: Request,
    event_id: str,
    session: ReadSession,
    base: PublicUrlDep,
    key: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    event = event_service.projector_event(session, event_id, key)
    join_url = views.join_link(base, event.join_code)
    return render(
        request,
        "projector.html",
        {
            "event_id": event.id,
            "key": key,
            "join_url": join_url,
            "join_code": event.join_code,
            "join_qr": qr_svg(join_url),
        },
    )


@router.get("/events/{event_id}/console", response_class=HTMLResponse)
def console_page(
    request: Request,
    event_id: str,
    session: ReadSession,
    base: PublicUrlDep,
    limits: LimitsDep,
    client: ClientDep,
    token: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    if token is not None:
        with FailureGuard(limits, client):
            event_service.organiser_event(session, event_id, token)
        response = RedirectResponse(f"/events/{event_id}/console", status_code=303)
        _cookie(response, request, ORGANISER_COOKIE, token)
        return response
    cookie = request.cookies.get(ORGANISER_COOKIE)
    with FailureGuard(limits, client):
        event = event_service.organiser_event(session, event_id, cookie)
    assert cookie is not None
    join_url = views.join_link(base, event.join_code)
    key = projector_key_for(cookie, event.id)
    return render(
        request,
        "console.html",
        {
            "event_id": event.id,
            "join_url": join_url,
            "join_code": event.join_code,
            "join_qr": qr_svg(join_url),
            "projector_url": f"/events/{event.id}/projector?key={key}",
        },
    )


# ------------------------------------------------------------------ printing


def _printing_context(
    request: Request, session: ReadSession, event_id: str, guard: FailureGuard
) -> dict[str, Any]:
    """What both print pages need; the organiser's cookie authorises them, as the console."""
    with guard:
        event = event_service.organiser_event(
            session, event_id, request.cookies.get(ORGANISER_COOKIE)
        )
    sheet = printing.sheet_for(session, event)
    return {
        "event": event,
        "event_id": event.id,
        "sheet": sheet,
        "can_fix": event.finished_at is None and sheet.open_rounds > 0,
    }


@router.get("/events/{event_id}/print/schedule", response_class=HTMLResponse)
def print_schedule_page(
    request: Request,
    event_id: str,
    session: ReadSession,
    limits: LimitsDep,
    client: ClientDep,
    attendee: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """Each attendee's rounds on paper (or one attendee's): time, table, partners."""
    context = _printing_context(request, session, event_id, FailureGuard(limits, client))
    context["schedules"] = printing.schedules(
        session, context["event"], context["sheet"], attendee_id=attendee
    )
    return render(request, "print_schedule.html", context)


@router.get("/events/{event_id}/print/tables", response_class=HTMLResponse)
def print_tables_page(
    request: Request, event_id: str, session: ReadSession, limits: LimitsDep, client: ClientDep
) -> HTMLResponse:
    """One card per table: who sits there in each round."""
    context = _printing_context(request, session, event_id, FailureGuard(limits, client))
    context["cards"] = printing.table_cards(context["sheet"], context["event"])
    return render(request, "print_tables.html", context)

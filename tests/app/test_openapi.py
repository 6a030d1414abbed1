"""schemathesis against /openapi.json of a real server with a real event, join code and
tokens: no server errors, and every response as the schema says (status, type, body)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.generation.case import Case
from schemathesis.schemas import BaseSchema

from app.config import Settings
from app.main import create_app
from tests.app.live import Server


@dataclass
class World:
    server: Server
    event_id: str
    join_code: str
    organiser: str
    attendee: str
    partner_id: str
    # Generated PATCHes may shorten or finish the main event: fresh people join this one.
    spare_code: str

    def fresh_attendee(self) -> tuple[str, str]:
        response = httpx.post(
            f"{self.server.url}/api/v1/join/{self.spare_code}", json={"name": "Fresh"}
        )
        response.raise_for_status()
        body = response.json()
        return body["attendee_id"], body["token"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("schemathesis")
    server = Server(
        data_dir=data,
        database_url=f"sqlite:///{data / 'api.db'}",
        env={
            "COMMONGROUND_FAILED_AUTH_PER_MINUTE": "1000000",
            "COMMONGROUND_JOIN_RATE_PER_MINUTE": "1000000",
        },
    )
    server.start()
    try:
        event = httpx.post(
            f"{server.url}/api/v1/events", json={"name": "Schema check", "rounds": 50}
        ).json()
        people = [
            httpx.post(
                f"{server.url}/api/v1/join/{event['join_code']}",
                json={"name": name, "answers": {"hobbies": ["jazz"]}},
            ).json()
            for name in ("Ada", "Bob", "Cy", "Di")
        ]
        httpx.post(
            f"{server.url}/api/v1/events/{event['id']}/rounds",
            headers={"Authorization": f"Bearer {event['organiser_token']}"},
            json={"expected_index": 1},
        ).raise_for_status()
        spare = httpx.post(f"{server.url}/api/v1/events", json={"name": "Spare"}).json()
        yield World(
            server=server,
            event_id=event["id"],
            join_code=event["join_code"],
            organiser=event["organiser_token"],
            attendee=people[0]["token"],
            partner_id=people[1]["attendee_id"],
            spare_code=spare["join_code"],
        )
    finally:
        server.stop()


def _schema() -> BaseSchema:
    # The document the server serves at /openapi.json, made without starting one.
    document = create_app(Settings(data_dir=Path("unused")), tick=False).openapi()
    loaded = schemathesis.openapi.from_dict(document)
    # Live streams never end: they are tested against a real server in test_live.py.
    return loaded.exclude(path_regex=r".*/stream$")


schema = _schema()


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_matches_its_schema(case: Case[Any], world: World) -> None:
    parameters: dict[str, Any] = case.path_parameters or {}
    if "event_id" in parameters:
        parameters["event_id"] = world.event_id
    if "join_code" in parameters:
        parameters["join_code"] = world.join_code
    token = world.organiser
    if case.path.startswith("/api/v1/me"):
        token = world.attendee
        if case.method.upper() == "DELETE":
            _, token = world.fresh_attendee()
    if "attendee_id" in parameters:
        parameters["attendee_id"] = (
            world.fresh_attendee()[0] if case.method.upper() == "DELETE" else world.partner_id
        )
    if case.operation.path == "/api/v1/events/{event_id}/display":
        case.query = {**(case.query or {})}
    case.call_and_validate(
        base_url=world.server.url,
        headers={"Authorization": f"Bearer {token}"},
        # Real ids and tokens replace the generated ones (to reach past authorisation), so
        # the checks that judge whether generated data should pass do not apply; business
        # rules (an unknown question key, a repeated round) also reject schema-valid data.
        excluded_checks=[checks.positive_data_acceptance, checks.negative_data_rejection],
    )

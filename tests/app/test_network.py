"""The room's network: GraphML and GEXF that networkx reads back, names only with consent,
formula-safe text, the statistics networkx computes, the picture, the command line."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.clock import FrozenClock
from app.config import Settings
from app.services.network import Network, _Edge, _Node, figures, graph, svg
from tests.app.conftest import EventHandle, create_event, join, start_round


def _room(client: TestClient, clock: FrozenClock) -> tuple[EventHandle, dict[str, str]]:
    """Four people over two rounds: two named (one with a formula for a name), two not."""
    event = create_event(client, rounds=2)
    people = {
        "Ada": join(
            client,
            event,
            "Ada Lovelace",
            organisation="Engines",
            listed=True,
            answers={"hobbies": ["chess"], "offers": ["maths"]},
        ),
        "Formula": join(
            client,
            event,
            "=HYPERLINK(1)",
            organisation="+Org",
            listed=True,
            answers={"hobbies": ["chess"], "seeks": ["funding"]},
        ),
        "Zed": join(
            client,
            event,
            "Zed Secret",
            organisation="Hidden Org",
            answers={"hobbies": ["chess"], "offers": ["funding"], "seeks": ["maths"]},
        ),
        "Yan": join(
            client,
            event,
            "Yan Private",
            organisation="Covert Ltd",
            answers={"hobbies": ["chess"]},
        ),
    }
    start_round(client, event, 1)
    clock.advance(400)
    start_round(client, event, 2)
    return event, {name: p.id for name, p in people.items()} | {
        f"{name}:token": p.token for name, p in people.items()
    }


def _read(content: bytes, kind: str) -> nx.Graph[str]:
    reader = nx.read_graphml if kind == "graphml" else nx.read_gexf
    result: nx.Graph[str] = reader(io.BytesIO(content))
    return result


@pytest.mark.parametrize("kind", ["graphml", "gexf"])
def test_network_exports_read_back_with_names_only_for_consenting_people(
    client: TestClient, clock: FrozenClock, kind: str
) -> None:
    event, _ = _room(client, clock)
    response = client.get(f"/api/v1/events/{event.id}/export/network.{kind}", headers=event.auth)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(f"application/{kind}+xml")
    assert response.headers["cache-control"] == "no-store"
    assert "attachment" in response.headers["content-disposition"]
    for secret in (b"Zed", b"Secret", b"Hidden", b"Yan", b"Private", b"Covert"):
        assert secret not in response.content
    g = _read(response.content, kind)
    assert g.number_of_nodes() == 4
    assert g.number_of_edges() == 4  # two rounds of two pairs, nobody met twice
    nodes: dict[str, dict[str, Any]] = {n: g.nodes[n] for n in g.nodes}
    labels = {data["label"] for data in nodes.values()}
    assert "Ada Lovelace" in labels
    # A spreadsheet would run these: quoted, as in the CSV exports.
    assert "'=HYPERLINK(1)" in labels
    assert {data.get("organisation", "") for data in nodes.values()} == {"Engines", "'+Org", ""}
    anonymous = sorted(d["label"] for d in nodes.values() if not d["listed"])
    assert len(anonymous) == 2
    assert all(label.startswith("Person ") for label in anonymous)
    for _, _, data in g.edges(data=True):
        assert int(data["meetings"]) == 1
        assert "chess" in data["common_ground"]
        assert data["connection"] in (False, "false", "False")


def test_graphml_export_marks_mutual_connections(client: TestClient, clock: FrozenClock) -> None:
    event, ids = _room(client, clock)
    rounds = client.get(f"/api/v1/events/{event.id}/rounds", headers=event.auth).json()
    a, b = (m["attendee_id"] for m in rounds[0]["groups"][0]["members"])
    tokens = {ids[name]: ids[f"{name}:token"] for name in ("Ada", "Formula", "Zed", "Yan")}
    for me, other in ((a, b), (b, a)):
        response = client.post(
            "/api/v1/me/interest",
            headers={"Authorization": f"Bearer {tokens[me]}"},
            json={"attendee_id": other},
        )
        assert response.status_code == 200
    content = client.get(
        f"/api/v1/events/{event.id}/export/network.graphml", headers=event.auth
    ).content
    g = _read(content, "graphml")
    assert sum(1 for _, _, d in g.edges(data=True) if d["connection"]) == 1
    stats = client.get(f"/api/v1/events/{event.id}/stats", headers=event.auth).json()
    assert stats["network"]["mutual_connections"] == 1
    assert stats["network"]["share_of_connections_across_organisations"] == 1.0
    assert stats["returning"] is None


def test_network_picture_is_svg_without_names_of_people_who_did_not_consent(
    client: TestClient, clock: FrozenClock
) -> None:
    event, _ = _room(client, clock)
    response = client.get(f"/api/v1/events/{event.id}/network.svg", headers=event.auth)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.text.startswith("<svg")
    assert response.text.count("<circle") == 4
    assert "Zed" not in response.text
    assert "Hidden" not in response.text
    assert "Ada Lovelace" in response.text


def test_network_exports_need_the_organiser(client: TestClient, clock: FrozenClock) -> None:
    event, ids = _room(client, clock)
    other = create_event(client)
    url = f"/api/v1/events/{event.id}/export/network.gexf"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=other.auth).status_code == 403
    attendee = {"Authorization": f"Bearer {ids['Ada:token']}"}
    assert client.get(url, headers=attendee).status_code == 403
    response = client.get("/api/v1/events/nope/export/network.graphml", headers=event.auth)
    assert response.status_code == 404
    assert response.json()["detail"]
    response = client.get(f"/api/v1/events/{event.id}/export/network.gml", headers=event.auth)
    assert response.status_code == 404


def test_series_export_with_a_bad_format_is_4xx(client: TestClient) -> None:
    event = create_event(client, series=True)
    series_id = event.body["series_id"]
    bad = client.get(f"/api/v1/series/{series_id}/export/network.csv", headers=event.auth)
    assert bad.status_code == 422
    assert "detail" in bad.json()
    assert client.get(f"/api/v1/series/{series_id}/export/network.gexf").status_code == 401
    empty = client.get(f"/api/v1/series/{series_id}/export/network.gexf", headers=event.auth)
    assert empty.status_code == 200
    assert _read(empty.content, "gexf").number_of_nodes() == 0


def _network(orgs: dict[str, str], edges: dict[tuple[str, str], bool]) -> Network:
    nodes = {key: _Node(name=key, organisation=org, listed=True) for key, org in orgs.items()}
    return Network(
        nodes=nodes,
        edges={frozenset(e): _Edge(meetings=1, connection=c) for e, c in edges.items()},
        ids={key: f"p{i + 1}" for i, key in enumerate(orgs)},
    )


def test_figures_count_organisations_reached_bridges_and_connections_across() -> None:
    # Two triangles of colleagues (A and B), joined by one meeting c-d: a bridge.
    net = _network(
        {"a": "A", "b": "A", "c": "A", "d": "B", "e": "B", "f": "B", "g": ""},
        {
            ("a", "b"): True,
            ("b", "c"): False,
            ("a", "c"): False,
            ("d", "e"): False,
            ("e", "f"): False,
            ("d", "f"): False,
            ("c", "d"): True,
            ("f", "g"): False,
        },
    )
    found = figures(net)
    assert found.people == 7
    assert found.meetings == 8
    assert found.mutual_connections == 2
    assert found.organisation_pairs_linked == 1
    assert found.bridges_between_organisations == 1  # c-d; f-g has no organisation on one end
    assert found.organisations_reached_max == 1
    # c and d reach the other side; g (no organisation) reaches B through f.
    assert found.organisations_reached_mean == round(3 / 7, 3)
    assert found.share_of_connections_across_organisations == 0.5


def test_an_empty_network_has_zero_figures_and_a_blank_picture() -> None:
    net = _network({}, {})
    found = figures(net)
    assert found.people == 0
    assert found.share_of_connections_across_organisations == 0.0
    assert "<circle" not in svg(net)
    assert graph(net, title="=1").graph["name"] == "'=1"


def test_export_command_writes_the_networks_the_api_exports(
    client: TestClient,
    clock: FrozenClock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event, _ = _room(client, clock)
    monkeypatch.setenv("DATABASE_URL", settings.sqlalchemy_url)
    for kind in ("graphml", "gexf"):
        out = tmp_path / f"network.{kind}"
        main(["export", event.id, "--format", kind, "--out", str(out)])
        api = client.get(f"/api/v1/events/{event.id}/export/network.{kind}", headers=event.auth)
        assert out.read_bytes() == api.content
    with pytest.raises(SystemExit) as exit_:
        main(["export", event.id, "--format", "gml"])
    assert exit_.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_people_can_ask_to_be_named_later_and_take_it_back(
    client: TestClient, clock: FrozenClock
) -> None:
    event, ids = _room(client, clock)
    zed = {"Authorization": f"Bearer {ids['Zed:token']}"}
    url = f"/api/v1/events/{event.id}/export/network.graphml"
    assert client.patch("/api/v1/me", headers=zed, json={"listed": True}).status_code == 200
    assert b"Zed Secret" in client.get(url, headers=event.auth).content
    assert client.patch("/api/v1/me", headers=zed, json={"listed": False}).status_code == 200
    assert b"Zed" not in client.get(url, headers=event.auth).content
    consents = client.get("/api/v1/me/export.json", headers=zed).json()["consents"]
    assert [(c["field"], c["granted"]) for c in consents] == [("listed", True), ("listed", False)]

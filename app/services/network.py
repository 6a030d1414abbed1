"""The room's network after the event: people and their meetings as a networkx graph, for
Gephi or Cytoscape (GraphML, GEXF), the statistics networkx computes well, and a picture.

A person is named (name and organisation) only if they consented to be listed; anyone else
is an anonymous "Person N", also in the common ground written on the edges. At a series'
scale, a remembered person is one node across its events; anyone else is one per event.
Text that a spreadsheet might run as a formula is quoted, as in the CSV exports.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import networkx as nx
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import models
from app.schemas import NetworkFigures
from app.services import series as series_service
from app.services.exports import safe_cell
from app.services.rounds import all_rounds, reasons_from_json
from app.services.stats import pair_reasons

Key = str


@dataclass
class _Node:
    name: str
    organisation: str
    listed: bool
    events: set[str] = field(default_factory=set)


@dataclass
class _Edge:
    meetings: int = 0
    connection: bool = False
    common_ground: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Network:
    """Who met whom, by node key (`m:` a series member, `a:` an attendee of one event)."""

    nodes: dict[Key, _Node]
    edges: dict[frozenset[Key], _Edge]
    # Anonymous ids in order of first appearance: "p1", "p2", ...
    ids: dict[Key, str]

    def label(self, key: Key) -> str:
        node = self.nodes[key]
        return node.name if node.listed else f"Person {self.ids[key][1:]}"


def _key(attendee: models.Attendee) -> Key:
    if attendee.series_member_id is not None:
        return "m:" + attendee.series_member_id
    return "a:" + attendee.id


def collect_series(session: Session, series: models.Series) -> Network:
    """The network of every event of a series (a remembered person is one node across them)."""
    return collect(session, series_service.events_of(session, series))


def collect(session: Session, events: Sequence[models.Event]) -> Network:
    """The network of these events: only people whose data is still held (someone who
    deleted theirs, or an event purged, leaves no node and no edge)."""
    nodes: dict[Key, _Node] = {}
    rows: list[tuple[models.Event, dict[str, models.Attendee]]] = []
    for event in events:
        people = {
            a.id: a
            for a in session.scalars(
                select(models.Attendee)
                .where(models.Attendee.event_id == event.id)
                .order_by(models.Attendee.joined_at, models.Attendee.id)
            )
        }
        rows.append((event, people))
        for person in people.values():
            node = nodes.setdefault(
                _key(person), _Node(person.name, person.organisation, person.listed)
            )
            # The latest event's profile and choice stand.
            node.name, node.organisation, node.listed = (
                person.name,
                person.organisation,
                person.listed,
            )
            node.events.add(event.id)
    ids = {key: f"p{i + 1}" for i, key in enumerate(nodes)}
    network = Network(nodes=nodes, edges={}, ids=ids)
    for event, people in rows:
        names = {pid: network.label(_key(person)) for pid, person in people.items()}
        asked = {
            (a, b)
            for a, b in session.execute(
                select(models.Interest.from_id, models.Interest.to_id).where(
                    models.Interest.event_id == event.id
                )
            )
        }
        for round_ in all_rounds(session, event):
            for group in round_.groups:
                reasons = reasons_from_json(group.reasons)
                for a, b in combinations(group.members, 2):
                    first, second = people.get(a), people.get(b)
                    if first is None or second is None:
                        continue
                    ka, kb = _key(first), _key(second)
                    if ka == kb:
                        continue
                    edge = network.edges.setdefault(frozenset((ka, kb)), _Edge())
                    edge.meetings += 1
                    edge.connection |= (a, b) in asked and (b, a) in asked
                    for reason in pair_reasons(reasons, first, second, event.questions):
                        text = reason.text(names)
                        if text not in edge.common_ground:
                            edge.common_ground.append(text)
    return network


def graph(network: Network, *, title: str) -> nx.Graph[str]:
    """The export graph: anonymous ids as nodes, names only where consented, text quoted."""
    result: nx.Graph[str] = nx.Graph(name=safe_cell(title))
    for key, node in network.nodes.items():
        result.add_node(
            network.ids[key],
            label=safe_cell(network.label(key)),
            organisation=safe_cell(node.organisation) if node.listed else "",
            listed=node.listed,
            returning=key.startswith("m:") and len(node.events) > 1,
            events=len(node.events),
        )
    for ends, edge in network.edges.items():
        a, b = sorted(network.ids[k] for k in ends)
        result.add_edge(
            a,
            b,
            meetings=edge.meetings,
            connection=edge.connection,
            common_ground=safe_cell("; ".join(edge.common_ground)),
        )
    return result


def graphml(network: Network, *, title: str) -> bytes:
    """GraphML (UTF-8, with its XML declaration), for Cytoscape, Gephi, yEd."""
    out = io.BytesIO()
    nx.write_graphml(graph(network, title=title), out, encoding="utf-8")
    return out.getvalue()


def gexf(network: Network, *, title: str) -> bytes:
    """GEXF 1.2 (UTF-8, with its XML declaration), Gephi's own format."""
    out = io.BytesIO()
    nx.write_gexf(graph(network, title=title), out, encoding="utf-8")
    return out.getvalue()


# ------------------------------------------------------------------ statistics


def _organisations(network: Network) -> nx.Graph[str]:
    """The meeting graph by node key, with each person's organisation ("" when none)."""
    result: nx.Graph[str] = nx.Graph()
    for key, node in network.nodes.items():
        result.add_node(key, organisation=node.organisation.casefold())
    for ends, edge in network.edges.items():
        a, b = tuple(ends)
        result.add_edge(a, b, connection=edge.connection)
    return result


def _across(g: nx.Graph[str], a: Key, b: Key) -> bool:
    first, second = g.nodes[a]["organisation"], g.nodes[b]["organisation"]
    return bool(first) and bool(second) and first != second


def figures(network: Network) -> NetworkFigures:
    g = _organisations(network)
    reached: list[int] = []
    for person in g.nodes:
        own = g.nodes[person]["organisation"]
        others = {g.nodes[n]["organisation"] for n in g.neighbors(person)}
        reached.append(len(others - {own, ""}))
    linked = {
        frozenset((g.nodes[a]["organisation"], g.nodes[b]["organisation"]))
        for a, b in g.edges
        if _across(g, a, b)
    }
    found: Iterable[tuple[Key, Key]] = nx.bridges(g)  # type: ignore[arg-type]
    bridges = sum(1 for a, b in found if _across(g, a, b))
    connections = [(a, b) for a, b, data in g.edges(data=True) if data["connection"]]
    across = sum(1 for a, b in connections if _across(g, a, b))
    return NetworkFigures(
        people=g.number_of_nodes(),
        meetings=sum(edge.meetings for edge in network.edges.values()),
        mutual_connections=len(connections),
        organisations_reached_mean=round(sum(reached) / len(reached), 3) if reached else 0.0,
        organisations_reached_max=max(reached, default=0),
        organisation_pairs_linked=len(linked),
        bridges_between_organisations=bridges,
        share_of_connections_across_organisations=(
            round(across / len(connections), 4) if connections else 0.0
        ),
    )


# ------------------------------------------------------------------ the picture

_PALETTE = ("#1b6ca8", "#d1495b", "#2e8540", "#8e5ea2", "#c7781e", "#00798c", "#6b4226")
_SIZE = 320
_MARGIN = 16


def svg(network: Network) -> str:
    """A small picture of the network, drawn on the server (no script, no CDN): one dot per
    person coloured by organisation, a line per meeting, thicker for a mutual connection.
    Dots carry anonymous ids or consented names only, escaped."""
    g = _organisations(network)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_SIZE} {_SIZE}" '
        f'width="{_SIZE}" height="{_SIZE}" '
        f'role="img" aria-label="The network: {g.number_of_nodes()} people, '
        f'{g.number_of_edges()} pairs who met">',
        f'<rect width="{_SIZE}" height="{_SIZE}" fill="#fff"/>',
    ]
    if g.number_of_nodes():
        positions = nx.spring_layout(g, seed=1) if g.number_of_nodes() > 1 else {}
        span = (_SIZE - 2 * _MARGIN) / 2

        def at(key: Key) -> tuple[float, float]:
            x, y = positions.get(key, (0.0, 0.0))
            return _MARGIN + span * (float(x) + 1), _MARGIN + span * (float(y) + 1)

        organisations = sorted({g.nodes[n]["organisation"] for n in g.nodes} - {""})
        colour = {org: _PALETTE[i % len(_PALETTE)] for i, org in enumerate(organisations)}
        for a, b, data in g.edges(data=True):
            (x1, y1), (x2, y2) = at(a), at(b)
            width = 2.5 if data["connection"] else 1
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                f'stroke="#777" stroke-width="{width}"/>'
            )
        for key in g.nodes:
            x, y = at(key)
            fill = colour.get(g.nodes[key]["organisation"], "#999")
            title = html.escape(network.label(key))
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{fill}">'
                f"<title>{title}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)

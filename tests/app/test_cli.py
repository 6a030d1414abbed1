"""`commonground plan` and `demo` from the command line: output, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from tests.matching.test_planfile import SPEC_EXAMPLE


def _run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=60,
    )


def test_plan_writes_every_attendee_once_per_round(tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps(SPEC_EXAMPLE))
    out = tmp_path / "plan.json"
    main(["plan", str(source), "--rounds", "4", "--seed", "7", "--out", str(out)])
    plan = json.loads(out.read_text())
    assert len(plan["rounds"]) == 4
    assert plan["stats"]["seed"] == 7
    ids = sorted(a["id"] for a in SPEC_EXAMPLE["attendees"])
    for planned in plan["rounds"]:
        placed = [m for g in planned["groups"] for m in g["members"]] + planned["sitting_out"]
        assert sorted(placed) == ids


def test_plan_reads_standard_input_and_writes_standard_output() -> None:
    done = _run("plan", "-", stdin=json.dumps(SPEC_EXAMPLE).encode())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stats"]["attendees"] == 8


def test_same_seed_same_plan_file(tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps(SPEC_EXAMPLE))
    first = _run("plan", str(source), "--seed", "3")
    second = _run("plan", str(source), "--seed", "3")
    assert first.stdout == second.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["plan", "-"], b"{oops", "-: not valid JSON"),
        (["plan", "/no/such/file.json"], b"", "No such file or directory"),
        (["plan", "-", "--rounds", "0"], b"{}", "--rounds: must be from 1 to 100"),
        (["plan", "-", "--seed", "x"], b"{}", "--seed: not a whole number"),
        (["plan", "-"], b'{"attendees": [{"id": "a"}]}', "at least 2 people"),
        (["frobnicate"], b"", "invalid choice"),
        (["demo", "--people", "1"], b"", "--people: must be from 2 to 2000"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(
    args: list[str], stdin: bytes, expected: str
) -> None:
    done = _run(*args, stdin=stdin)
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert expected in lines[0]
    assert "Traceback" not in done.stderr.decode()


def test_unwritable_output_is_a_clean_error(tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps(SPEC_EXAMPLE))
    done = _run("plan", str(source), "--out", str(tmp_path / "missing" / "plan.json"))
    assert done.returncode == 2
    assert "No such file or directory" in done.stderr.decode()


def test_demo_seeds_an_event_a_newcomer_can_click_through(tmp_path: Path) -> None:
    from app import demo
    from app.clock import FrozenClock
    from app.config import Settings
    from app.db import create_database
    from app.migrate import upgrade
    from app.services import events as event_service
    from app.services import views

    settings = Settings(data_dir=tmp_path, database_url=None, public_url="http://demo")
    db = create_database(settings)
    upgrade(db.engine)
    links = demo.seed(db, settings, FrozenClock(), people=40, live=False)
    assert links.organiser.startswith(f"http://demo/events/{links.event_id}/console?token=")
    assert links.attendee.startswith("http://demo/me?token=")
    with db.reading() as session:
        event = event_service.get_event(session, links.event_id)
        counts = views.counts(session, event)
    assert counts.present == 40
    db.engine.dispose()

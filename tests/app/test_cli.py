"""`commonground plan` and `demo` from the command line: output, and one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.config import Settings
from tests.app.conftest import create_event, join, start_round
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

    settings = Settings(data_dir=tmp_path, database_url=None)
    db = create_database(settings)
    upgrade(db.engine)
    links = demo.seed(db, FrozenClock(), public_url="http://demo", people=40, live=False)
    assert links.organiser.startswith(f"http://demo/events/{links.event_id}/console?token=")
    assert links.attendee.startswith("http://demo/me?token=")
    with db.reading() as session:
        event = event_service.get_event(session, links.event_id)
        counts = views.counts(session, event)
    assert counts.present == 40
    db.engine.dispose()


# ------------------------------------------------------------------ export and purge


def _cli_database(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Point `commonground` at the test's database, as an organiser's shell would."""
    monkeypatch.setenv("DATABASE_URL", settings.sqlalchemy_url)


def test_export_writes_what_the_api_exports(
    client: TestClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    event = create_event(client)
    for name in ("Ada", "Bob", "Cy"):
        join(client, event, name, answers={"hobbies": ["jazz"]})
    start_round(client, event, 1)
    _cli_database(monkeypatch, settings)
    out = tmp_path / "connections.json"
    main(["export", event.id, "--format", "json", "--out", str(out)])
    api = client.get(f"/api/v1/events/{event.id}/export/connections.json", headers=event.auth)
    assert json.loads(out.read_text()) == api.json()
    main(["export", event.id])
    csv_bytes = capsysbinary.readouterr().out
    api_csv = client.get(f"/api/v1/events/{event.id}/export/connections.csv", headers=event.auth)
    assert csv_bytes == api_csv.content
    assert csv_bytes.startswith("\ufeff".encode())


def test_export_of_an_unknown_event_is_one_line_and_exit_status_2(
    client: TestClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    known = create_event(client, name="Spring mixer")
    _cli_database(monkeypatch, settings)
    with pytest.raises(SystemExit) as exit_:
        main(["export", "nope"])
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert "no event 'nope'" in lines[0]
    assert f"{known.id} (Spring mixer)" in lines[0]


def test_purge_deletes_finished_events_past_retention_and_keeps_others(
    client: TestClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The frozen test clock says 2026-06-01; the command runs on the real clock, later.
    ended = create_event(client, name="Ended")
    ada = join(client, ended, "Ada")
    client.post(f"/api/v1/events/{ended.id}/finish", headers=ended.auth)
    upcoming = create_event(client, name="Upcoming", starts_at="2099-01-01T18:00:00Z")
    zed = join(client, upcoming, "Zed")
    _cli_database(monkeypatch, settings)
    main(["purge", "--days", "1", "--dry-run"])
    assert "Ended): would delete the personal data of 1 people" in capsys.readouterr().out
    assert client.get("/api/v1/me", headers=ada.auth).status_code == 200
    main(["purge", "--days", "1"])
    printed = capsys.readouterr().out
    assert f"{ended.id} (Ended): deleted the personal data of 1 people" in printed
    assert "Upcoming" not in printed
    assert client.get("/api/v1/me", headers=ada.auth).status_code == 401
    assert client.get("/api/v1/me", headers=zed.auth).status_code == 200
    main(["purge", "--days", "1"])
    assert "nothing to purge (retention 1 days)" in capsys.readouterr().out


def test_purge_of_one_event_refuses_a_running_one(
    client: TestClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = create_event(client)
    join(client, event, "Ada")
    _cli_database(monkeypatch, settings)
    with pytest.raises(SystemExit) as exit_:
        main(["purge", "--event", event.id])
    assert exit_.value.code == 2
    assert "has not ended" in capsys.readouterr().err
    client.post(f"/api/v1/events/{event.id}/finish", headers=event.auth)
    main(["purge", "--event", event.id])
    assert "deleted the personal data of 1 people" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["purge", "--days", "-1"], "--days: must be from 0 to 3650"),
        (["purge", "--days", "x"], "--days: not a whole number"),
        (["export", "e1", "--format", "xml"], "invalid choice: 'xml'"),
    ],
)
def test_export_and_purge_usage_errors_are_one_line(args: list[str], expected: str) -> None:
    done = _run(*args)
    assert done.returncode == 2
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert expected in lines[0]


@pytest.mark.parametrize(
    ("command", "variable", "field"),
    [
        ("purge", "COMMONGROUND_RETENTION_DAYS", "retention_days"),
        ("serve", "COMMONGROUND_EVENT_LOOP", "event_loop"),
    ],
)
def test_a_bad_setting_is_one_line_not_a_traceback(
    tmp_path: Path, command: str, variable: str, field: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", command],
        capture_output=True,
        check=False,
        timeout=60,
        env={**os.environ, "COMMONGROUND_DATA_DIR": str(tmp_path), variable: "x"},
    )
    assert done.returncode == 2
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert field in lines[0]


# ------------------------------------------------------------------ serve: where it answers


def _serve_until(
    tmp_path: Path,
    *args: str,
    marker: str,
    env: dict[str, str] | None = None,
    command: str = "serve",
) -> tuple[subprocess.Popen[str], str]:
    """Start `commonground serve ARGS` (or `command`), read its start-up lines until
    `marker` and until it answers; the caller stops it."""
    from tests.app.live import free_port

    port = free_port()
    environment = dict(os.environ)
    for name in ("DATABASE_URL", "COMMONGROUND_PUBLIC_URL", "COMMONGROUND_LAN_URL"):
        environment.pop(name, None)
    environment |= {"COMMONGROUND_DATA_DIR": str(tmp_path), **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", command, "--port", str(port), *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:  # ends when the process does
        seen.append(line)
        if "Application startup complete" in line:
            break
    text = "".join(seen)
    if marker not in text:
        _stop(process)  # not left running after the failure
    assert marker in text, text
    return process, text


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate(timeout=5)


def test_serve_on_another_port_gives_links_for_that_port(tmp_path: Path) -> None:
    import httpx2 as httpx

    process, text = _serve_until(tmp_path, marker="restart with --lan")
    try:
        local = next(line.split()[1] for line in text.splitlines() if "Local:" in line)
        created = httpx.post(f"{local}events/new", data={"name": "Port test"}, timeout=30)
        assert created.status_code == 201
        port = local.rstrip("/").rsplit(":", 1)[1]
        assert f"http://127.0.0.1:{port}/join/" in created.text
        assert ":8000" not in created.text
    finally:
        _stop(process)


def test_serve_lan_prints_the_network_address_and_a_join_qr_code(tmp_path: Path) -> None:
    import httpx2 as httpx

    from app.cli import lan_addresses

    if not lan_addresses():
        pytest.skip("this machine has no network address besides loopback")
    process, text = _serve_until(tmp_path, "--lan", marker="Phones join at")
    try:
        network = next(line.split()[1] for line in text.splitlines() if "Network:" in line)
        assert not network.startswith("http://127.")
        assert f"Phones join at {network}join" in text
        assert "█" in text  # the QR code, drawn in the terminal
        # It listens on every interface: reachable on the network address too.
        assert httpx.get(f"{network}healthz", timeout=10).status_code == 200
        # The organiser's laptop opens the page as 127.0.0.1: the QR code still names the
        # network address, which phones can use.
        port = network.rstrip("/").rsplit(":", 1)[1]
        created = httpx.post(
            f"http://127.0.0.1:{port}/events/new", data={"name": "Venue"}, timeout=30
        )
        assert created.status_code == 201
        assert f"{network}join/" in created.text
        join_links = set(re.findall(r"https?://[^\s\"'<]+/join/[A-Z0-9]+", created.text))
        assert join_links
        assert all(link.startswith(network) for link in join_links), join_links
    finally:
        _stop(process)


def test_serve_with_a_public_url_prints_it(tmp_path: Path) -> None:
    process, text = _serve_until(
        tmp_path,
        marker="Phones join at https://mixer.example.org/join",
        env={"COMMONGROUND_PUBLIC_URL": "https://mixer.example.org"},
    )
    _stop(process)
    assert "Organisers start here  https://mixer.example.org/" in text


@pytest.mark.parametrize(
    ("command", "setting", "loop"),
    [("serve", None, "asyncio"), ("serve", "uvloop", "uvloop"), ("demo", None, "asyncio")],
)
def test_serve_runs_on_the_event_loop_of_the_settings(
    tmp_path: Path, command: str, setting: str | None, loop: str
) -> None:
    env = {} if setting is None else {"COMMONGROUND_EVENT_LOOP": setting}
    process, text = _serve_until(tmp_path, marker="event loop:", env=env, command=command)
    _stop(process)
    line = next(line for line in text.splitlines() if "event loop:" in line)
    assert f"event loop: {loop} " in line, line


def test_serve_refuses_a_bad_public_url_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "COMMONGROUND_DATA_DIR": str(tmp_path)}
    env["COMMONGROUND_PUBLIC_URL"] = "mixer.example.org"
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert "public_url" in lines[0]
    assert "http:// or https://" in lines[0]

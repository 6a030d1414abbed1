"""Rate limits per client: a moving window, refused hits not counted."""

from __future__ import annotations

import pytest

from app.ratelimit import MovingWindow


def test_a_client_gets_its_limit_per_window_and_no_more(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("app.ratelimit.time.monotonic", lambda: now[0])
    window = MovingWindow(3, window=60)
    assert window.test("a")
    assert [window.hit("a") for _ in range(4)] == [True, True, True, False]
    assert not window.test("a")
    assert window.hit("b")  # another client has its own window
    now[0] += 59.5
    assert not window.hit("a")  # a refused hit is not counted ...
    now[0] += 0.5
    assert window.test("a")  # ... so a minute after the first three, there is room again
    assert [window.hit("a") for _ in range(4)] == [True, True, True, False]


def test_clients_gone_quiet_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr("app.ratelimit.time.monotonic", lambda: now[0])
    monkeypatch.setattr(MovingWindow, "SWEEP_AT", 10)
    window = MovingWindow(1, window=60)
    for i in range(10):
        window.hit(f"old {i}")
    now[0] += 61
    window.hit("new")
    assert list(window._hits) == ["new"]

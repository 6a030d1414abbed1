"""The image itself, with a real Docker engine: it builds, runs as its CMD says and answers.

Skips where no engine answers `docker info`, except under CI=true, where it fails: CI starts
an engine first (.ci/run). The build uses the host's network (`--network host`), as some
engines' bridge has no route out; the container publishes its port on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.app.live import free_port

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "commonground-test"


def docker_or_skip() -> str:
    docker = shutil.which("docker")
    if docker is None:
        reason = "the docker command is not installed"
    else:
        try:
            info = subprocess.run(
                [docker, "info"], capture_output=True, text=True, timeout=30, check=False
            )
            failure = info.stderr.strip().splitlines()[-1:] if info.returncode else None
        except subprocess.TimeoutExpired:
            failure = ["`docker info` did not answer in 30 s"]
        if failure is None:
            return docker
        reason = f"no Docker engine answers ({' '.join(failure) or 'docker info failed'})"
    if os.environ.get("CI"):
        pytest.fail(f"Docker is required under CI=true but {reason}")
    pytest.skip(f"{reason}; start a Docker engine to build and run the image")


def run(*command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def inspect(docker: str, kind: str, name: str) -> dict[str, Any]:
    result = run(docker, kind, "inspect", name)
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)[0]
    return found


@contextlib.contextmanager
def container(docker: str, *arguments: str) -> Iterator[str]:
    started = run(docker, "run", "--detach", *arguments)
    assert started.returncode == 0, started.stderr
    name = started.stdout.strip()
    try:
        yield name
    finally:
        run(docker, "rm", "--force", "--volumes", name)


def logs(docker: str, name: str) -> str:
    result = run(docker, "logs", "--tail", "60", name)
    return result.stdout + result.stderr


def test_the_image_builds_runs_unprivileged_and_serves_pages() -> None:
    docker = docker_or_skip()
    built = run(docker, "build", "--network", "host", "-t", IMAGE, ".", timeout=1800)
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]

    config = inspect(docker, "image", IMAGE)["Config"]
    assert config["User"] == "commonground"
    assert "/data" in (config["Volumes"] or {})
    assert config["Cmd"] == ["commonground", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert any("/healthz" in part for part in config["Healthcheck"]["Test"])

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The image's own CMD and HEALTHCHECK; only the health check runs more often.
    with container(
        docker,
        "--publish",
        f"127.0.0.1:{port}:8000",
        "--health-interval",
        "1s",
        "--env",
        f"COMMONGROUND_PUBLIC_URL={url}",
        IMAGE,
    ) as name:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            state = inspect(docker, "container", name)["State"]
            if not state["Running"] or time.monotonic() > deadline:
                pytest.fail(f"the container did not answer /healthz:\n{logs(docker, name)}")
            time.sleep(0.2)

        home = httpx.get(f"{url}/", timeout=10)
        assert home.status_code == 200
        assert "text/html" in home.headers["content-type"]
        assert "/static/app.css" in home.text
        assert httpx.get(f"{url}/static/app.css", timeout=10).status_code == 200
        # Writing needs /data to belong to the unprivileged user.
        created = httpx.post(f"{url}/api/v1/events", json={"name": "Container"}, timeout=10)
        assert created.status_code == 201, created.text

        # The HEALTHCHECK command itself works inside the image.
        deadline = time.monotonic() + 30
        while inspect(docker, "container", name)["State"]["Health"]["Status"] != "healthy":
            if time.monotonic() > deadline:
                health = inspect(docker, "container", name)["State"]["Health"]
                pytest.fail(f"the container never became healthy: {health}")
            time.sleep(0.5)

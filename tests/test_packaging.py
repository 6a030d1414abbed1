"""The image's contract without Docker: the files the Dockerfile copies make a working install.

The Dockerfile's COPY lines are replayed (with .dockerignore) into a scratch folder, and the
folder its `pip install <dir>` names is installed into a fresh virtual environment. That
environment sees the dependencies already installed for the tests through a `.pth` file
pointing at a folder of links to them, with the project itself (its editable install, its
.pth hooks, its dist-info) left out: pip still checks every declared dependency against
those, so a missing one fails, but nothing is downloaded except the build backend. (A full
install of the dependencies, as in the image, takes minutes; the Docker test does that.)
The server then runs from that environment in a folder away from the checkout, so only what
the wheel holds can be imported or served: every page and every /static asset they name
must answer 200.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
import venv
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest

from tests.app.live import free_port

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "commonground"

# ------------------------------------------------------------------ reading the Dockerfile


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, continuation lines joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # as Docker does, also inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        result.append((keyword.upper(), arguments.strip()))
        pending = ""
    return result


def ignore_patterns(context: Path) -> list[tuple[re.Pattern[str], bool]]:
    """.dockerignore as (pattern, is an exception) pairs, in order."""
    path = context / ".dockerignore"
    patterns: list[tuple[re.Pattern[str], bool]] = []
    if not path.exists():
        return patterns
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = str(PurePosixPath(line.removeprefix("!").strip().lstrip("/")))
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern):
            if part in ("**", "**/"):
                regex += "(.*/)?" if part == "**/" else ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            else:
                regex += re.escape(part)
        patterns.append((re.compile(regex + r"\Z"), exception))
    return patterns


def is_ignored(relative: str, patterns: list[tuple[re.Pattern[str], bool]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for regex, exception in patterns:
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not exception
    return ignored


def _pip_install_target(command: str) -> str | None:
    """The local folder a `pip install` in this RUN command installs, if any."""
    words = shlex.split(command)
    takes_value = {"-r", "--requirement", "-c", "--constraint", "-t", "--target", "-i"}
    takes_value |= {"--index-url", "--extra-index-url", "-f", "--find-links"}
    for start in range(len(words) - 1):
        if words[start] in ("pip", "pip3") and words[start + 1] == "install":
            index = start + 2
            while index < len(words) and words[index] not in ("&&", "||", ";", "|"):
                word = words[index]
                if word in takes_value:
                    index += 2
                    continue
                if not word.startswith("-") and word.startswith((".", "/")):
                    return word
                index += 1
    return None


def stage_image_files(context: Path, image: Path) -> Path:
    """Replay WORKDIR and COPY into `image` (a stand-in for the image's root); return the
    folder the Dockerfile's `pip install <dir>` installs."""
    patterns = ignore_patterns(context)
    workdir = PurePosixPath("/")
    targets: list[Path] = []
    for keyword, arguments in instructions((context / "Dockerfile").read_text()):
        if keyword == "WORKDIR":
            workdir = workdir / arguments
        elif keyword in ("COPY", "ADD"):
            words = json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)
            options = [w for w in words if w.startswith("--")]
            assert not [o for o in options if o.startswith("--from")], (
                "a multi-stage COPY: teach tests/test_packaging.py to follow it"
            )
            *sources, destination = [w for w in words if not w.startswith("--")]
            into = image / (workdir / destination).relative_to("/")
            for source in sources:
                pattern = str(PurePosixPath(source))
                matches = [context] if pattern == "." else sorted(context.glob(pattern))
                assert matches, f"COPY {source}: not in the build context"
                for found in matches:
                    _copy(
                        found,
                        context,
                        into,
                        several=len(sources) > 1 or destination.endswith("/"),
                        patterns=patterns,
                    )
        elif keyword == "RUN":
            target = _pip_install_target(arguments)
            if target is not None:
                targets.append(image / (workdir / target).relative_to("/"))
    assert len(targets) == 1, f"expected one `pip install <folder>` in the Dockerfile: {targets}"
    return targets[0]


def _copy(
    found: Path,
    context: Path,
    into: Path,
    *,
    several: bool,
    patterns: list[tuple[re.Pattern[str], bool]],
) -> None:
    if found.is_dir():
        files = [p for p in found.rglob("*") if p.is_file()]
        base = found
        destination = into
    else:
        files = [found]
        base = found.parent
        destination = into if not several else into / found.name
    for file in files:
        if is_ignored(file.relative_to(context).as_posix(), patterns):
            continue
        target = destination if file == found else destination / file.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)


# ------------------------------------------------------------------ the environment


def dependencies_only(folder: Path) -> Path:
    """A folder of links to this interpreter's installed packages, without this project,
    pip and setuptools (the environment's own build tools must not leak in)."""
    site = Path(sysconfig.get_paths()["purelib"])
    own: set[str] = set()
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        distribution = importlib.metadata.distribution(PROJECT)
        own = {PurePosixPath(str(f)).parts[0] for f in distribution.files or []}
    folder.mkdir()
    for entry in site.iterdir():
        name = entry.name
        if (
            name in own
            or name.endswith(".pth")
            or name.startswith(("__editable__", "__pycache__", "_distutils_hack"))
            or re.match(r"(pip|setuptools|pkg_resources)([-.]|\Z)", name)
        ):
            continue
        (folder / name).symlink_to(entry)
    return folder


def make_venv(path: Path, dependencies: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text(f"{dependencies}\n")
    return python


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without anything that could point back at the checkout
    or at the developer's own server settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "DATABASE_URL", "VIRTUAL_ENV")
        and not key.startswith("COMMONGROUND_")
    }
    return {**env, **extra}


# ------------------------------------------------------------------ the pages


class References(HTMLParser):
    """Every src= and href= in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def static_assets(html: str) -> set[str]:
    parser = References()
    parser.feed(html)
    paths = {urlsplit(url).path for url in parser.urls}
    return {path for path in paths if path.startswith("/static/")}


@contextlib.contextmanager
def serving(command: list[str], *, cwd: Path, env: dict[str, str], url: str) -> Iterator[None]:
    log = cwd / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"the installed server exited:\n{log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the installed server did not answer:\n{log.read_text()}")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_the_files_the_dockerfile_copies_install_a_server_with_every_page_and_asset(
    tmp_path: Path,
) -> None:
    image = tmp_path / "image"
    source = stage_image_files(ROOT, image)
    assert (source / "pyproject.toml").exists()

    environment = tmp_path / "venv"
    python = make_venv(environment, dependencies_only(tmp_path / "dependencies"))
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=240,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The package must come from the new environment, never from the checkout.
    where = subprocess.run(
        [str(python), "-c", "import app, matching; print(app.__file__); print(matching.__file__)"],
        cwd=elsewhere,
        env=clean_environment(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(path).is_relative_to(environment) for path in where), where

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_environment(
        COMMONGROUND_DATA_DIR=str(tmp_path / "data"), COMMONGROUND_PUBLIC_URL=url
    )
    command = [
        str(environment / "bin" / PROJECT),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with (
        serving(command, cwd=elsewhere, env=env, url=url),
        httpx.Client(base_url=url, timeout=10) as anyone,
        httpx.Client(base_url=url, timeout=10, follow_redirects=True) as organiser,
        httpx.Client(base_url=url, timeout=10, follow_redirects=True) as attendee,
    ):
        created = anyone.post("/api/v1/events", json={"name": "Packaged mixer", "rounds": 2})
        assert created.status_code == 201, created.text
        event = created.json()
        tokens = []
        for name in ("Ada", "Grace"):
            joined = anyone.post(f"/api/v1/join/{event['join_code']}", json={"name": name})
            assert joined.status_code == 201, joined.text
            tokens.append(joined.json()["token"])
        # A round: the matcher (and its numerical dependencies) run from the install too.
        started = anyone.post(
            f"/api/v1/events/{event['id']}/rounds",
            headers={"Authorization": f"Bearer {event['organiser_token']}"},
            json={"expected_index": 1},
        )
        assert started.status_code == 201, started.text

        base = f"/events/{event['id']}"
        pages = {
            "/": anyone.get("/"),
            "/join": anyone.get("/join"),
            f"/join/{event['join_code']}": anyone.get(f"/join/{event['join_code']}"),
            f"{base}/projector": anyone.get(f"{base}/projector?key={event['projector_key']}"),
            "/me": attendee.get(f"/me?token={tokens[0]}"),
            f"{base}/console": organiser.get(f"{base}/console?token={event['organiser_token']}"),
            f"{base}/print/schedule": organiser.get(f"{base}/print/schedule"),
            f"{base}/print/tables": organiser.get(f"{base}/print/tables"),
        }
        assets: set[str] = set()
        for path, page in pages.items():
            assert page.status_code == 200, f"{path}: {page.status_code} {page.text[:300]}"
            assert page.url.path == path, f"{path} ended at {page.url}"
            assert page.headers["content-type"].startswith("text/html"), path
            found = static_assets(page.text)
            assert found, f"{path} names no /static asset"
            assets |= found

        for asset in sorted(assets):
            response = anyone.get(asset)
            assert response.status_code == 200, f"{asset}: {response.status_code}"
            assert response.content == (ROOT / asset.lstrip("/")).read_bytes(), asset

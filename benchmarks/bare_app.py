"""The framework's own limit on this machine: one FastAPI route, served as `commonground serve`
serves the app (benchmarks/load.py measures it next to the service).

    .venv/bin/python -m benchmarks.bare_app [--host 127.0.0.1] [--port 8001]

The uvicorn settings are those of `app.cli._serve` with one worker: the event loop of
COMMONGROUND_EVENT_LOOP (`serve`'s default, "asyncio", unless set), `http` left at "auto"
(httptools where installed), access log on, no proxy headers, the same graceful-shutdown
bound. Keep them in step when `serve` changes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from fastapi import FastAPI

# The keywords of `serve`'s uvicorn.run that main() passes too: load.py warns when `serve`
# passes others.
UVICORN_KEYWORDS = frozenset(
    {"factory", "host", "port", "workers", "proxy_headers", "timeout_graceful_shutdown", "loop"}
)

app = FastAPI(title="bare")


@app.get("/bare")
async def bare() -> dict[str, str]:
    return {"status": "ok"}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)

    import uvicorn

    from app.config import Settings

    uvicorn.run(
        "benchmarks.bare_app:app",
        host=args.host,
        port=args.port,
        workers=1,
        proxy_headers=False,
        # COMMONGROUND_SHUTDOWN_GRACE_SECONDS' default, as `serve` passes it.
        timeout_graceful_shutdown=5,
        loop=Settings().event_loop,
    )


if __name__ == "__main__":
    main()

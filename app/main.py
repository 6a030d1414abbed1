"""create_app(): the FastAPI application. For now, liveness only; the event API comes next."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel


class Health(BaseModel):
    status: str


def create_app() -> FastAPI:
    app = FastAPI(title="Common Ground", version="0.1.0")

    @app.get("/healthz", tags=["health"])
    def healthz() -> Health:
        """Liveness: the process answers."""
        return Health(status="ok")

    return app

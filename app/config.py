"""Settings from the environment (COMMONGROUND_* variables, and DATABASE_URL)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMMONGROUND_", extra="ignore")

    # Where the SQLite file lives when no DATABASE_URL is given.
    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "COMMONGROUND_DATABASE_URL"),
    )
    # The address people reach this server at, for the links in responses and QR codes.
    # Unset: each link is built from the address of the request that asked for it.
    public_url: str | None = None
    # Set by `serve --lan`: the network address, used in links instead of a loopback one when
    # a page is opened on the server's own computer (127.0.0.1 or localhost), so the QR code
    # the organiser's laptop shows works on phones.
    lan_url: str | None = None
    # Proxies whose X-Forwarded-Proto/-For/-Host headers are believed: comma-separated
    # addresses or networks, or "*" (only where nothing but the proxy can reach the app).
    forwarded_allow_ips: str = "127.0.0.1"
    # If set (comma-separated; "*.example.org" allowed), any other Host header gets 400.
    allowed_hosts: str | None = None
    # If set, creating an event needs `Authorization: Bearer <admin_token>`.
    admin_token: str | None = None
    # Joins per minute from one address; generous so a venue behind one NAT gets in.
    join_rate_per_minute: int = 600
    # Failed token or join-code lookups per minute from one address before 429.
    failed_auth_per_minute: int = 60
    # Seconds between heartbeats on live streams.
    heartbeat_seconds: float = 15.0
    # How often the clock checks for rounds to advance on their own.
    tick_seconds: float = 1.0
    # On shutdown, seconds to let requests finish before open live streams are cut (phones
    # reconnect on their own); without a bound a restart would wait for every phone to leave.
    shutdown_grace_seconds: int = Field(default=5, ge=0, le=600)
    # Days after an event ends (or was last used) before its personal data is deleted.
    retention_days: int = Field(default=30, ge=0, le=3650)
    # How often the running server looks for events due for deletion.
    purge_every_seconds: float = 3600.0
    # The event loop `serve` runs on. "asyncio", the standard library's, serves connections in
    # turn when the server is saturated (GET /me at 200 connections: p99 60 ms); "uvloop" is a
    # few percent faster per request but, saturated, left some requests waiting 1-2 s while
    # others were served (docs/benchmarks.md). A round change saturates the server.
    event_loop: Literal["asyncio", "uvloop"] = "asyncio"
    max_body_bytes: int = 256 * 1024
    # Guest-list uploads.
    max_upload_bytes: int = 5 * 1024 * 1024

    @field_validator("admin_token")
    @classmethod
    def _no_placeholder(cls, value: str | None) -> str | None:
        if value is not None and (len(value) < 16 or value.lower() in {"changeme", "secret"}):
            raise ValueError(
                "COMMONGROUND_ADMIN_TOKEN must be at least 16 characters, not a placeholder"
            )
        return value

    @field_validator("public_url", "lan_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query:
            raise ValueError(
                "COMMONGROUND_PUBLIC_URL must be an http:// or https:// address, "
                "e.g. https://mixer.example.org"
            )
        return value

    @property
    def allowed_host_list(self) -> list[str]:
        if not self.allowed_hosts:
            return []
        return [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Plain postgres URLs (as Heroku-style hosts give them) use psycopg 3.
            for prefix in ("postgres://", "postgresql://"):
                if url.startswith(prefix):
                    return "postgresql+psycopg://" + url[len(prefix) :]
            return url
        return f"sqlite:///{self.data_dir / 'commonground.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()

"""Pure ASGI middleware: trusted proxy headers, allowed hosts, security headers, body limit.

Pure ASGI (not `@app.middleware("http")`): no extra task and no copy of the response per
request, and live streams pass through untouched.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Personal links carry tokens: never leak them to other sites through Referer.
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_SECURITY = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
_NO_STORE = (b"cache-control", b"no-store")
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})


class ForwardedHeaders:
    """X-Forwarded-Proto, -For and -Host, believed only from the proxies the operator trusts.

    Proto and For are uvicorn's own ProxyHeadersMiddleware (the server runs with its built-in
    copy off, so this is the one place that decides); Host, which it leaves alone, is applied
    here from the same trusted addresses, so links and QR codes name the address people use.
    """

    def __init__(self, app: ASGIApp, trusted: str) -> None:
        self.proxy = ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # type: ignore[arg-type]
        self.trusted = self.proxy.trusted_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            if client and client[0] in self.trusted:
                scope = _with_forwarded_host(scope)
        await self.proxy(scope, receive, send)  # type: ignore[arg-type]


def _with_forwarded_host(scope: Scope) -> Scope:
    forwarded = None
    for name, value in scope["headers"]:
        if name == b"x-forwarded-host":
            # Several proxies append; the first is what the client asked for.
            forwarded = value.split(b",")[0].strip()
    if not forwarded:
        return scope
    headers = [(n, v) for n, v in scope["headers"] if n != b"host"]
    headers.append((b"host", forwarded))
    return {**scope, "headers": headers}


class AllowedHosts:
    """With COMMONGROUND_ALLOWED_HOSTS set, any other Host header gets 400 (as Starlette's
    TrustedHostMiddleware, answered in JSON like every other error here). The health checks
    are exempt: Docker's and an orchestrator's reach the container by its own address."""

    def __init__(self, app: ASGIApp, hosts: list[str]) -> None:
        self.app = app
        self.exact = {h for h in hosts if not h.startswith("*")}
        self.suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))
        self.any = "*" in hosts

    def allows(self, host: str) -> bool:
        return self.any or host in self.exact or host.endswith(self.suffixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in HEALTH_PATHS:
            await self.app(scope, receive, send)
            return
        host = ""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1").lower()
        # Without the port; an IPv6 literal keeps its brackets.
        host = host[: host.find("]") + 1] if host.startswith("[") else host.split(":")[0]
        if self.allows(host):
            await self.app(scope, receive, send)
            return
        response = JSONResponse({"detail": "this server does not answer to that host name"}, 400)
        await response(scope, receive, send)


class SecurityHeaders:
    """Security headers on every response; `Cache-Control: no-store` on the API's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                present = {name for name, _ in headers.raw}
                extra = [h for h in _SECURITY if h[0] not in present]
                if api and _NO_STORE[0] not in present:
                    extra.append(_NO_STORE)
                headers.raw.extend(extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413, whether or not they say their length."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.default = max_bytes
        # Guest lists are files: a larger allowance on the import route only.
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if scope["path"].endswith("/import") else self.default
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await _too_large(scope, receive, send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": "request body too large"}, status_code=413)
    await response(scope, receive, send)

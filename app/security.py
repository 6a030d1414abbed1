"""Secrets: tokens, join codes and ids from `secrets`, stored only as hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# No 0/O, 1/I/L: a join code is read off a projector and typed on a phone.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def new_id() -> str:
    return secrets.token_hex(6)


def new_join_code(length: int = 6) -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


def normalise_join_code(code: str) -> str:
    return "".join(code.split()).upper()


def token_hash(token: str) -> str:
    """Tokens have 192 random bits: a plain SHA-256 is enough (no dictionary to guess from)."""
    return hashlib.sha256(token.encode()).hexdigest()


def projector_key_for(organiser_token: str, event_id: str) -> str:
    """The projector key is derived from the organiser token, so the organiser's console can
    show the projector link again although the server keeps only hashes."""
    digest = hmac.new(organiser_token.encode(), f"projector:{event_id}".encode(), "sha256")
    return digest.hexdigest()[:32]


def attendee_token_for(organiser_token: str, attendee_id: str) -> str:
    """The token of someone the organiser added (import, walk-up), derived from the organiser
    token like the projector key: the console can show their personal link again, although
    the server keeps only its hash. 256 bits, URL-safe."""
    digest = hmac.new(organiser_token.encode(), f"attendee:{attendee_id}".encode(), "sha256")
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def series_token_for(series_secret: str, member_id: str) -> str:
    """The personal series token of a member, derived from their series' secret: any
    organiser of the series can send each member their link again (an invitation to the
    next mixer) although the server keeps only its hash. 256 bits, URL-safe."""
    digest = hmac.new(series_secret.encode(), f"series-member:{member_id}".encode(), "sha256")
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()

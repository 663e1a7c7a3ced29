"""The speech service's own credentials: workspace API keys, sent the ways IBM's clients send them.

- ``Authorization: Basic base64("apikey:KEY")`` (the SDK's ``BasicAuthenticator("apikey", KEY)``);
- ``Authorization: Bearer TOKEN`` with an access token from ``POST {base_url}speechcustom/identity/token``
  (IBM IAM's API-key exchange, so ``IAMAuthenticator(KEY, url=server + "/speechcustom")`` works
  unchanged), or with the key itself;
- ``?access_token=TOKEN`` on the WebSocket, for clients that cannot set headers.

A key grants this API and nothing else: Jupyter's own handlers never see it. Inside a Jupyter
server the server's token and login cookie are accepted too (see :mod:`jupyter_speechcustom.server`).
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Any

import jwt

from jupyter_speechcustom.store.keys import KEY_PREFIX

__all__ = ["GRANT_TYPE", "TOKEN_SECONDS", "Credential", "issue_token", "parse_authorization", "verify_credential"]

#: IBM IAM's grant type for an API-key exchange.
GRANT_TYPE = "urn:ibm:params:oauth:grant-type:apikey"
#: How long an access token lasts (IBM's IAM: one hour).
TOKEN_SECONDS = 3600
#: Issuer and audience of the service's access tokens.
ISSUER = "jupyter_speechcustom"
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class Credential:
    """A credential of this service's kind found in a request: a key, or an access token."""

    kind: str  # "key" or "token"
    value: str


def parse_authorization(header: str | None) -> Credential | None:
    """The service credential in an ``Authorization`` header; None when it holds none of this
    service's kind (no header, or a Jupyter token, which Jupyter's own auth then checks)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return Credential("key", "")  # malformed: refused, never passed on
        return Credential("key", password) if user == "apikey" else Credential("key", "")
    if scheme == "bearer":
        if value.startswith(KEY_PREFIX):
            return Credential("key", value)
        if value.count(".") == 2 and value.startswith("eyJ"):  # a JSON Web Token
            return Credential("token", value)
    return None


def issue_token(keys: Any, key_id: str, now: float | None = None) -> dict[str, Any]:
    """IBM IAM's token response for key ``key_id`` of ``keys`` (:class:`~jupyter_speechcustom.store.keys.ApiKeys`)."""
    issued = int(time.time() if now is None else now)
    expires = issued + TOKEN_SECONDS
    claims = {"iss": ISSUER, "aud": ISSUER, "sub": key_id, "iat": issued, "exp": expires}
    token = jwt.encode(claims, keys.signing_secret(), algorithm=_ALGORITHM)
    return {"access_token": token, "refresh_token": "not_supported", "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS, "expiration": expires, "scope": "speechcustom"}


def verify_credential(keys: Any, credential: Credential) -> str | None:
    """The id of the active key behind ``credential``, or None when it is not valid."""
    if credential.kind == "key":
        key = keys.verify(credential.value) if credential.value else None
        return key.id if key is not None else None
    try:
        claims = jwt.decode(credential.value, keys.signing_secret(), algorithms=[_ALGORITHM], audience=ISSUER,
                            issuer=ISSUER, options={"require": ["exp", "iat", "sub"]})
    except jwt.PyJWTError:
        return None
    key_id = str(claims["sub"])
    return key_id if keys.active(key_id) else None

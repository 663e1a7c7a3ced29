"""API keys of a workspace: the credentials its speech service accepts, and nothing else.

A key is shown once, when it is created; the index keeps only its SHA-256 hash (a key is 256
random bits, so a plain hash is as strong as a slow one) with its name, dates and revocation.
Access tokens (IBM's IAM exchange) are signed with the workspace's own secret, kept in the
index's ``meta`` table, so they stay valid across server restarts and across several servers
on one workspace, and stop working as soon as their key is revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jupyter_speechcustom.jobs.runner import now_iso
from jupyter_speechcustom.store.index import InvalidNameError, NameInUseError, RecordNotFoundError

if TYPE_CHECKING:
    from jupyter_speechcustom.store.workspace import StoreAPI

__all__ = ["KEY_PREFIX", "ApiKey", "ApiKeys"]

#: Every key starts with this, so a leaked one is recognizable (secret scanners, logs).
KEY_PREFIX = "sck_"
#: The longest key name, in characters.
MAX_KEY_NAME = 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    revoked TEXT
)
"""


@dataclass(frozen=True)
class ApiKey:
    """What the workspace knows of a key (never the key itself)."""

    id: str
    name: str
    created: str
    revoked: str | None

    @property
    def active(self) -> bool:
        return self.revoked is None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(id=row["id"], name=row["name"], created=row["created"], revoked=row["revoked"])


class ApiKeys:
    """The API keys of ``store``'s workspace."""

    def __init__(self, store: StoreAPI) -> None:
        self._store = store
        self._secret: bytes | None = None
        with store._write() as tx:
            tx.execute(SCHEMA)

    def create(self, name: str) -> tuple[ApiKey, str]:
        """A new key named ``name``: its record and the key itself, which is not kept and cannot be shown again."""
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_KEY_NAME or not name.isprintable():
            raise InvalidNameError(f"an API key needs a name of 1 to {MAX_KEY_NAME} printable characters, "
                                   f"got {name!r:.80}: name it after the client that will use it")
        name = name.strip()
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(id="key-" + secrets.token_hex(4), name=name, created=now_iso(), revoked=None)
        with self._store._write() as tx:
            taken = tx.execute("SELECT 1 FROM api_keys WHERE name = ? AND revoked IS NULL", (name,)).fetchone()
            if taken:
                raise NameInUseError(f"an active API key is already named {name!r}: choose another name, or "
                                     f"revoke that one first (speechcustom keys revoke {name})")
            tx.execute("INSERT INTO api_keys (id, name, hash, created) VALUES (?, ?, ?, ?)",
                       (key.id, key.name, _hash(secret), key.created))
        return key, secret

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        return [_key(r) for r in self._store._rows("SELECT * FROM api_keys ORDER BY created, rowid")]

    def get(self, key_id: str) -> ApiKey:
        row = self._store._one("SELECT * FROM api_keys WHERE id = ?", (key_id,))
        if row is None:
            raise RecordNotFoundError(f"no API key {key_id!r}: `speechcustom keys list` shows the workspace's keys")
        return _key(row)

    def revoke(self, key: str) -> ApiKey:
        """Revoke the active key with id or name ``key``; the tokens issued for it stop working at once."""
        with self._store._write() as tx:
            row = tx.execute("SELECT * FROM api_keys WHERE (id = ? OR name = ?) AND revoked IS NULL",
                             (key, key)).fetchone()
            if row is None:
                raise RecordNotFoundError(f"no active API key with id or name {key!r}: "
                                          "`speechcustom keys list` shows the workspace's keys")
            tx.execute("UPDATE api_keys SET revoked = ? WHERE id = ?", (now_iso(), row["id"]))
        return self.get(row["id"])

    def verify(self, secret: str) -> ApiKey | None:
        """The active key ``secret`` is, or None."""
        if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
            return None
        row = self._store._one("SELECT * FROM api_keys WHERE hash = ?", (_hash(secret),))
        if row is None or row["revoked"] is not None or not hmac.compare_digest(row["hash"], _hash(secret)):
            return None
        return _key(row)

    def active(self, key_id: str) -> bool:
        """Whether ``key_id`` names a key that is not revoked."""
        row = self._store._one("SELECT revoked FROM api_keys WHERE id = ?", (key_id,))
        return row is not None and row["revoked"] is None

    def signing_secret(self) -> bytes:
        """The workspace's secret for signing access tokens (made on first use, then kept)."""
        if self._secret is None:
            with self._store._write() as tx:
                tx.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('token_secret', ?)",
                           (secrets.token_hex(32),))
                row = tx.execute("SELECT value FROM meta WHERE key = 'token_secret'").fetchone()
            self._secret = bytes.fromhex(row["value"])
        return self._secret

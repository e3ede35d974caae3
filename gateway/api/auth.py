"""Who is asking: bearer tokens per person (kept hashed), and what they may see.

A token belongs to one person of the roster; the person's `nodes` bound what they see and
act on (an alert is theirs when a node on its path is one of theirs). The admin token from
settings (`GRIDGATE_AUTH__ADMIN_TOKEN`) acts as a person with the admin role.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from gateway.places.roster import Person, Role, Roster

TOKEN_PREFIX = "gg_"  # noqa: S105  # a prefix that marks our tokens, not a secret

ADMIN = Person(
    id="admin",
    name="admin",
    role=Role.ADMIN,
    phone=None,
    nodes=frozenset(),
    duty=(),
    channels=(),
)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Auth:
    roster: Roster
    admin_token_hash: str | None

    def admin(self, token: str) -> Person | None:
        if self.admin_token_hash is None:
            return None
        if hmac.compare_digest(hash_token(token), self.admin_token_hash):
            return ADMIN
        return None

    def scope(self, person: Person) -> frozenset[str] | None:
        """Node ids bounding what `person` sees; None: everything."""
        return None if person.is_admin else person.nodes

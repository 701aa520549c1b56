"""Who has an item open now: a row per officer and item in the database's presence table,
renewed by the item page's heartbeat and gone once older than the expiry.

Ephemeral, so not on a topic: it is shared by every web process on one database, and a
restart loses nothing that the next heartbeat does not bring back. The calls block:
call them from a thread.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from worker.clock import Clock
from worker.db import Database
from worker.db.models import PresenceRow

__all__ = ["PresenceBoard"]


class PresenceBoard:
    def __init__(self, database: Database, clock: Clock, ttl_s: float) -> None:
        self.database = database
        self.clock = clock
        self.ttl_s = ttl_s

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def touch(self, item_id: str, username: str) -> None:
        """``username`` has the item open now; rows past their expiry are removed."""
        now = self._now()
        with self.database.write() as session:
            dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            session.execute(delete(PresenceRow).where(PresenceRow.seen_at <= now - self.ttl_s))
            statement = dialect.insert(PresenceRow).values(
                item_id=item_id, username=username, seen_at=now
            )
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=[PresenceRow.item_id, PresenceRow.username],
                    set_={"seen_at": now},
                )
            )

    def leave(self, item_id: str, username: str) -> None:
        with self.database.write() as session:
            session.execute(
                delete(PresenceRow).where(
                    PresenceRow.item_id == item_id, PresenceRow.username == username
                )
            )

    def present(self, item_ids: list[str] | None = None) -> dict[str, list[str]]:
        """The officers with each item open (every item for None), names sorted."""
        query = select(PresenceRow.item_id, PresenceRow.username).where(
            PresenceRow.seen_at > self._now() - self.ttl_s
        )
        if item_ids is not None:
            query = query.where(PresenceRow.item_id.in_(sorted(set(item_ids))))
        out: dict[str, list[str]] = {}
        with self.database.read() as session:
            for item_id, name in session.execute(query.order_by(PresenceRow.username)).tuples():
                out.setdefault(item_id, []).append(name)
        return out

    def stamp(self) -> str:
        """Changes whenever someone opens, leaves or stops renewing an item."""
        pairs = sorted((i, n) for i, names in self.present().items() for n in names)
        return hashlib.sha256(repr(pairs).encode()).hexdigest()[:16]

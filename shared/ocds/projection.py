"""One service's release writer: its events mapped to releases, in their transaction.

Registered with `shared.uow.register_projection(source, writer)`: the unit of work calls
it with its events, on its connection, before it writes the outbox rows, so a release
exists if and only if the event it projects committed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from shared.db import Conn
from shared.events import CloudEvent
from shared.ocds.releases import Release, dumps
from shared.ocds.store import StoredRelease, insert_releases


@dataclass(frozen=True)
class Context:
    """What a mapper needs besides the event: the ocid prefix and the local time zone."""

    prefix: str
    zone: ZoneInfo


# (connection, event, context) -> the releases the event makes (often none).
Mapper = Callable[[Conn, CloudEvent, Context], Awaitable[list[Release]]]


def stored(release: Release) -> StoredRelease:
    return StoredRelease(release["ocid"], release["id"], release["tag"][0],
                         release["date"], dumps(release))


@dataclass(frozen=True)
class ReleaseWriter:
    """`await writer(conn, events)`: map the events and insert their releases."""

    context: Context
    mapper: Mapper

    async def __call__(self, conn: Conn, events: list[CloudEvent]) -> None:
        releases: list[Release] = []
        for event in events:
            releases.extend(await self.mapper(conn, event, self.context))
        await insert_releases(conn, [stored(r) for r in releases])

    async def write(self, conn: Conn, releases: list[Release]) -> None:
        """Insert releases made outside an event (see bidding_service.ocds)."""
        await insert_releases(conn, [stored(r) for r in releases])

"""One WebSocket connection's life, for every integration that serves WebSockets.

The ASGI middleware and the Channels mixin are thin adapters over this: ``opened()`` on
accept records the session start and a connect; each message handled is one turn
(:meth:`ConnectionScope.turn`); ``closed(code)`` ends the connection whatever the code,
and the session too unless the code says the client will come back (an abnormal drop or
a server restart). Every event carries the connection's session and user.

Whether a connect is a *reconnect* is decided by the server, where the events of every
worker process meet (a ``connect`` of a session that already had a connection is counted
as a reconnect), and a repeated ``session_started`` never counts twice, so several
processes behind one balancer need no shared state here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatwatch.sdk.turn import TurnScope

if TYPE_CHECKING:
    from chatwatch.sdk.client import Client

__all__ = ["RESUMABLE_CLOSE_CODES", "ConnectionScope"]

# Close codes after which a client is expected to reconnect: no close frame (1005),
# abnormal drop (1006), server error (1011), restart (1012), try again later (1013),
# bad gateway (1014). Any other code (1000, 1001, an application's 4000...) ends the session.
RESUMABLE_CLOSE_CODES = frozenset({1005, 1006, 1011, 1012, 1013, 1014})


class ConnectionScope:
    def __init__(
        self,
        client: Client,
        session_id: str,
        *,
        channel: str = "websocket",
        user_id: str | None = None,
        user_type: str | None = None,
        resumable: frozenset[int] = RESUMABLE_CLOSE_CODES,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.session_id = session_id
        self.channel = channel
        self.user_id = user_id
        self.user_type = user_type
        self.resumable = resumable
        self.attributes = attributes
        self.is_open = False
        self._turn: TurnScope | None = None

    def _who(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "user_type": self.user_type}

    def opened(self) -> None:
        """The connection was accepted."""
        if self.is_open:
            return
        self.is_open = True
        self.client.session_started(self.session_id, self.channel, **self._who())
        self.client.connect(self.session_id, self.channel, **self._who())

    def turn(self) -> TurnScope:
        """A new turn for one message, tied to the connection's session and user."""
        return self.client.turn(
            session_id=self.session_id,
            user_id=self.user_id,
            user_type=self.user_type,
            attributes=self.attributes,
        )

    def begin_turn(self) -> TurnScope:
        """Open (and make current) the turn of the message just received; the previous
        one, if still open, ends first."""
        self.end_turn()
        turn = self._turn = self.turn()
        turn.__enter__()
        return turn

    def end_turn(self, exc: BaseException | None = None) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.finish(exc)

    def closed(self, code: int | None, exc: BaseException | None = None) -> None:
        """The connection ended (with ``exc`` when the handler crashed); idempotent."""
        self.end_turn(exc)
        if not self.is_open:
            return
        self.is_open = False
        self.client.disconnect(self.session_id, self.channel, **self._who())
        code = 1005 if code is None else code
        if code not in self.resumable:
            self.client.session_ended(
                self.session_id,
                reason=f"closed:{code}",
                channel=self.channel,
                **self._who(),
            )

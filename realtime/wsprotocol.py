"""daphne's websocket protocol with the client's message budget applied where the frames are parsed.

A consumer (realtime.consumers) sees a client's messages only after daphne has parsed them all: daphne
parses whatever the connection delivered, queues every message for the application, and returns to the
event loop only then. A client writing small frames as fast as it can (240,000 in 2 s here) kept the
server's loop busy for seconds and its queue growing, long before the consumer read the first message and
closed the socket. So `manage.py serve` has daphne build this protocol (``install``): it spends the same
budget (realtime.sockets.MessageBudget) per parsed message, and once it is spent it sends the close
(4429) and stops reading; a second later the connection is dropped. Nothing more of the flood is parsed
or queued; the application still gets its ``websocket.disconnect`` and leaves its groups.
"""

from __future__ import annotations

from typing import Any

from daphne.ws_protocol import WebSocketProtocol

from realtime.groups import CLOSE_FLOOD
from realtime.sockets import MessageBudget


class BudgetedWebSocketProtocol(WebSocketProtocol):
    _budget: MessageBudget | None = None
    _flooded = False

    def onMessage(self, payload: bytes, isBinary: bool) -> None:  # autobahn's names
        if self._flooded:
            return
        if self._budget is None:
            self._budget = MessageBudget()
        if self._budget.take():
            super().onMessage(payload, isBinary)
            return
        self._flooded = True
        self.sendCloseFrame(code=CLOSE_FLOOD)
        # Read nothing more: what the client still sends waits in the kernel's buffers (TCP then stops the
        # client) and is never parsed. The client has autobahn's closing handshake timeout (1 s) to read the
        # close; then the connection is dropped.
        self.transport.pauseProducing()


def install(server: Any) -> None:
    """Make a daphne Server (started, not yet accepting) build this protocol for its websockets."""
    server.ws_factory.protocol = BudgetedWebSocketProtocol

"""The embedded server: daphne serving pages, APIs and websockets, with the background workers inside.

It refuses a request body over its limit as the body arrives (core/server.py), on every URL.
"""

import asyncio
import contextvars
import logging
import os
import signal
import sys
import threading
import time
from argparse import ArgumentParser

from daphne.endpoints import build_endpoint_description_strings
from django.conf import settings
from django.core.management.base import BaseCommand
from twisted.internet import reactor

from core.monitoring import readiness
from core.server import BoundedServer, body_limits
from realtime import wsprotocol
from realtime.sockets import MAX_MESSAGE_BYTES
from telemetry.downlink.dispatcher import Dispatcher
from telemetry.leshan_events import LeshanFollower
from telemetry.notifications.delivery import NotificationWorker

logger = logging.getLogger(__name__)


def exit_within(grace: float) -> None:
    """Make sure the process ends within `grace` seconds once the server has stopped.

    When daphne stops with requests in flight, the threads running their synchronous parts can stay blocked
    in asgiref (waiting for an event loop that is gone), and Python's exit waits for every such thread, for
    ever: the process would never end and a supervisor's restart would hang. A daemon watchdog ends the
    process if the normal exit has not finished in time (responses in flight are lost either way).
    """

    def watchdog() -> None:
        time.sleep(grace)
        busy = [t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
        logger.warning("exiting with threads still busy %s s after the server stopped: %s", grace, busy)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    threading.Thread(target=watchdog, name="exit-watchdog", daemon=True).start()


def drain_on_signal(server: BoundedServer) -> None:
    """SIGTERM or SIGINT: /readyz fails from now on (core.monitoring.readiness), and the server stops after
    SHUTDOWN_DRAIN_SECONDS, while it still answers, so that a load balancer takes it out first; a second
    signal stops it at once. Installed once the reactor runs (Twisted installs its own handlers then)."""

    def stop() -> None:
        if reactor.running:
            server.stop()

    def handler(signum: int, frame: object) -> None:
        # Outside the context of whatever request the signal interrupted (its id is not this line's).
        contextvars.Context().run(begin, signum)

    def begin(signum: int) -> None:
        if readiness.shutting_down():
            reactor.callFromThread(stop)
            return
        readiness.begin_shutdown()
        drain = settings.SHUTDOWN_DRAIN_SECONDS
        logger.info("stopping: /readyz fails now, the server stops in %s s", drain)
        reactor.callFromThread(reactor.callLater, drain, stop)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class Command(BaseCommand):
    help = (
        "Serve Fieldhub with daphne; with EMBEDDED_WORKERS (default on SQLite) the downlink dispatcher and the "
        "notification worker run in the same process, and with LESHAN_EVENTS the Leshan event follower too."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--exit-grace",
            type=float,
            default=5.0,
            help="seconds the process may take to exit after the server stopped (default 5)",
        )

    def handle(self, *args: object, host: str, port: int, exit_grace: float, **options: object) -> None:
        from core.asgi import application

        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []

        def start_workers() -> None:
            # Called once daphne has made its factories, before it accepts anything (realtime.wsprotocol).
            wsprotocol.install(server)
            reactor.callWhenRunning(drain_on_signal, server)
            loop = asyncio.get_event_loop()
            if settings.EMBEDDED_WORKERS:
                tasks.append(loop.create_task(Dispatcher().run(stop)))
                tasks.append(loop.create_task(NotificationWorker().run(stop)))
            if settings.LESHAN_EVENTS:
                tasks.append(loop.create_task(LeshanFollower().run(stop)))

        workers = ["dispatcher", "notification worker"] * settings.EMBEDDED_WORKERS + [
            "Leshan event follower"
        ] * settings.LESHAN_EVENTS
        self.stdout.write(
            f"serving on http://{host}:{port}/" + (f" with the {' and '.join(workers)}" if workers else "")
        )
        server = BoundedServer(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            ready_callable=start_workers,
            verbosity=0,
            body_limits=body_limits(),
            # Browsers send nothing on Fieldhub's sockets: a larger frame is refused before it is buffered
            # (1009), and too many are (realtime.wsprotocol). Not the message size: autobahn applies that to
            # what the server sends too (the publisher's messages of up to MAX_FRAME_BYTES); it stays
            # daphne's 1 MiB, what a client's message in frames may reach before the consumer closes it (4413).
            websocket_max_frame_size=MAX_MESSAGE_BYTES,
        )
        server.run()
        stop.set()
        exit_within(exit_grace)

"""The embedded server: daphne serving pages, APIs and websockets, with the background workers inside."""

import asyncio
from argparse import ArgumentParser

from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server
from django.conf import settings
from django.core.management.base import BaseCommand

from telemetry.dispatch import Dispatcher
from telemetry.leshan_events import LeshanFollower


class Command(BaseCommand):
    help = (
        "Serve Fieldhub with daphne; with EMBEDDED_WORKERS (default on SQLite) the downlink dispatcher runs in "
        "the same process, and with LESHAN_EVENTS the Leshan event follower too."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: object, host: str, port: int, **options: object) -> None:
        from core.asgi import application

        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []

        def start_workers() -> None:
            loop = asyncio.get_event_loop()
            if settings.EMBEDDED_WORKERS:
                tasks.append(loop.create_task(Dispatcher().run(stop)))
            if settings.LESHAN_EVENTS:
                tasks.append(loop.create_task(LeshanFollower().run(stop)))

        workers = ["dispatcher"] * settings.EMBEDDED_WORKERS + ["Leshan event follower"] * settings.LESHAN_EVENTS
        self.stdout.write(
            f"serving on http://{host}:{port}/" + (f" with the {' and '.join(workers)}" if workers else "")
        )
        Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            ready_callable=start_workers,
            verbosity=0,
        ).run()
        stop.set()

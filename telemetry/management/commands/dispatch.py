import asyncio
from argparse import ArgumentParser

from django.core.management.base import BaseCommand

from core.workers import run_until_signalled
from telemetry.downlink.dispatcher import Dispatcher


class Command(BaseCommand):
    help = "Send queued operations to devices through Leshan's REST API (the Procfile's worker); stop with SIGTERM."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true", help="send what can be sent now, then exit")

    def handle(self, *args: object, once: bool, **options: object) -> None:
        if once:
            sent = asyncio.run(Dispatcher(listen=False).drain())
            self.stdout.write(f"{sent} operation(s) sent")
            return
        self.stdout.write("downlink dispatcher running; Ctrl-C to stop")
        run_until_signalled(Dispatcher().run)

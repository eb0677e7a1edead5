import asyncio
from argparse import ArgumentParser

from django.core.management.base import BaseCommand

from core.workers import run_until_signalled
from telemetry.downlink.dispatcher import Dispatcher
from telemetry.notifications.delivery import NotificationWorker


class Command(BaseCommand):
    help = (
        "Send queued operations to devices through Leshan's REST API, and alarm notifications (the Procfile's "
        "worker); stop with SIGTERM."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true", help="send what can be sent now, then exit")

    def handle(self, *args: object, once: bool, **options: object) -> None:
        if once:
            sent = asyncio.run(Dispatcher(listen=False).drain())
            notified = asyncio.run(NotificationWorker(listen=False).drain())
            self.stdout.write(f"{sent} operation(s) sent, {notified} notification(s) delivered")
            return
        self.stdout.write("downlink dispatcher and notification worker running; Ctrl-C to stop")
        run_until_signalled(Dispatcher().run, NotificationWorker().run)

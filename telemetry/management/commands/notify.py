import asyncio
from argparse import ArgumentParser

from django.core.management.base import BaseCommand

from core.workers import run_until_signalled
from telemetry.notifications.delivery import NotificationWorker


class Command(BaseCommand):
    help = "Deliver alarm notifications from the outbox (`dispatch`, the Procfile worker, does too); stop: SIGTERM."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true", help="deliver what is due now, then exit")

    def handle(self, *args: object, once: bool, **options: object) -> None:
        if once:
            delivered = asyncio.run(NotificationWorker(listen=False).drain())
            self.stdout.write(f"{delivered} notification(s) delivered")
            return
        self.stdout.write("notification worker running; Ctrl-C to stop")
        run_until_signalled(NotificationWorker().run)

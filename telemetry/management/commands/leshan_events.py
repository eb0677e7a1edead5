from django.core.management.base import BaseCommand

from telemetry.leshan_events import LeshanFollower
from telemetry.workers import run_until_signalled


class Command(BaseCommand):
    help = "Follow Leshan's event stream (GET /api/event at LESHAN_URL) and store what it reports; stop with SIGTERM."

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write("following Leshan's events; Ctrl-C to stop")
        run_until_signalled(LeshanFollower().run)

from django.core.management.base import BaseCommand

from core.workers import run_until_signalled
from telemetry.leshan_events import LeshanFollower


class Command(BaseCommand):
    help = "Follow Leshan's event stream (GET /api/event at LESHAN_URL) and store what it reports; stop with SIGTERM."

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write("following Leshan's events; Ctrl-C to stop")
        run_until_signalled(LeshanFollower().run)

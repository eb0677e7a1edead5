from argparse import ArgumentParser

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from telemetry import partitions


class Command(BaseCommand):
    help = (
        "Create the readings table's partitions for the current period and --ahead more, and drop those older "
        "than TELEMETRY_RETENTION_DAYS (PostgreSQL; a dispatcher also does it once an hour). For cron."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--ahead", type=int, default=partitions.AHEAD, help=f"periods after the current one ({partitions.AHEAD})"
        )
        parser.add_argument("--list", action="store_true", dest="show", help="then list the partitions")

    def handle(self, *args: object, ahead: int, show: bool, **options: object) -> None:
        if connection.vendor != "postgresql":
            self.stdout.write(f"partitioning needs PostgreSQL; the database is {connection.vendor}: nothing to do")
            return
        if ahead < 0:
            raise CommandError("--ahead must be 0 or more")
        try:
            report = partitions.partitions_maintain(ahead=ahead)
        except partitions.PartitioningUnsupported as exc:
            raise CommandError(str(exc)) from None
        if report.skipped:
            self.stdout.write(f"nothing done: {report.skipped}")
            return
        for p in report.created:
            self.stdout.write(f"created {p.name} [{p.start:%Y-%m-%d}, {p.end:%Y-%m-%d})")
        for p in report.dropped:
            self.stdout.write(f"dropped {p.name} [{p.start:%Y-%m-%d}, {p.end:%Y-%m-%d})")
        if report.moved:
            self.stdout.write(f"{report.moved} reading(s) moved from the default partition")
        retention = settings.TELEMETRY_RETENTION_DAYS
        if retention:
            self.stdout.write(
                f"retention {retention} days: {report.readings_deleted} reading(s), {report.links_deleted} event "
                f"link(s) and {report.events_deleted} event(s) deleted; {report.latest_kept} latest value(s) kept"
            )
        if not (report.created or report.dropped or report.readings_deleted):
            self.stdout.write(f"partitions up to date (one per {settings.TELEMETRY_PARTITION}, {ahead} ahead)")
        if show:
            for p in partitions.partitions_list():
                self.stdout.write(f"  {p.name} [{p.start:%Y-%m-%d}, {p.end:%Y-%m-%d})")
            self.stdout.write(f"  {partitions.DEFAULT_PARTITION} (default)")

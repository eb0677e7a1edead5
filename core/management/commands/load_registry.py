from django.core.management.base import BaseCommand

from core.services import resource_types_load_registry


class Command(BaseCommand):
    help = "Load the LwM2M object registry (shipped OMA DDF files and object 10240) into ResourceType; idempotent."

    def handle(self, *args: object, **options: object) -> None:
        result = resource_types_load_registry()
        self.stdout.write(
            f"LwM2M registry: {result.created} created, {result.updated} updated, {result.unchanged} unchanged"
        )

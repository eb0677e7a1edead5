from argparse import ArgumentParser

from django.core.management import call_command
from django.core.management.base import BaseCommand

from core.services import roles_ensure, user_create_first_admin


class Command(BaseCommand):
    help = (
        "Prepare a Fieldhub database: migrate, load the LwM2M registry, create the roles and the first "
        "administrator, whose random password is printed once."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--username", default="admin", help="name of the first administrator (default: admin)")

    def handle(self, *args: object, username: str, verbosity: int, **options: object) -> None:
        call_command("migrate", interactive=False, verbosity=max(0, verbosity - 1))
        call_command("load_registry", stdout=self.stdout)
        roles_ensure()
        created = user_create_first_admin(username=username)
        if created is None:
            self.stdout.write("An administrator exists already; no account created.")
            return
        user, password = created
        self.stdout.write(
            self.style.SUCCESS(
                f"Created administrator {user.get_username()!r} with password: {password}\n"
                "This password is shown only now: store it, or change it after logging in."
            )
        )

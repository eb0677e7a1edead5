"""`manage.py bootstrap` prepares a fresh database and prints the first admin's random password once."""

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from core.models import ResourceType

pytestmark = pytest.mark.django_db

PASSWORD = re.compile(r"password: (\S+)")


def bootstrap() -> str:
    out = StringIO()
    call_command("bootstrap", stdout=out, verbosity=0)
    return out.getvalue()


def test_it_creates_an_admin_whose_printed_password_works() -> None:
    output = bootstrap()
    password = PASSWORD.search(output)[1]
    user = authenticate(username="admin", password=password)
    assert user is not None
    assert user.is_superuser
    assert user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == ["admin"]
    assert "shown only now" in output


def test_the_password_is_random_not_a_default() -> None:
    first = PASSWORD.search(bootstrap())[1]
    get_user_model().objects.all().delete()
    second = PASSWORD.search(bootstrap())[1]
    assert first != second
    assert len(first) >= 20


def test_running_it_again_creates_nothing_and_prints_no_password() -> None:
    bootstrap()
    output = bootstrap()
    assert PASSWORD.search(output) is None
    assert "An administrator exists already" in output
    assert get_user_model().objects.count() == 1


def test_it_loads_the_registry_and_the_roles() -> None:
    ResourceType.objects.all().delete()
    output = bootstrap()
    assert "1041 created" in output
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) == {"viewer", "operator", "admin"}


def test_a_chosen_username_is_used() -> None:
    out = StringIO()
    call_command("bootstrap", "--username", "root-ops", stdout=out, verbosity=0)
    assert get_user_model().objects.get().username == "root-ops"

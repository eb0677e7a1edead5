"""Notifications of alarms: which channels hear of a change, the outbox rows written in the change's
transaction (once per channel and change), the message body, the channel services and their refusals, the
API and the pages per role, and the webhook secret that is never shown."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from core.errors import FieldhubError, NotFound, PermissionDenied
from core.models import Site, SiteRole
from core.roles import Role
from telemetry.alarms.models import Alarm, AlarmChange
from telemetry.alarms.signals import alarm_changed
from telemetry.notifications import selectors, services
from telemetry.notifications.models import Notification, NotificationChannel
from tests.factories import make_endpoint, make_user
from tests.telemetry.notify_helpers import SECRET, change_alarm, make_rule, raise_alarm

pytestmark = pytest.mark.django_db


def webhook(**fields: Any) -> NotificationChannel:
    fields.setdefault("name", "Ops hook")
    fields.setdefault("kind", "webhook")
    fields.setdefault("url", "http://127.0.0.1:9/hook")
    fields.setdefault("secret", SECRET)
    rules = fields.pop("rules", [])
    channel = NotificationChannel.objects.create(**fields)
    channel.rules.set(rules)
    return channel


def as_user(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    return client.generic(method, url, json.dumps(body) if body is not None else "", content_type="application/json")


@pytest.fixture
def north() -> Site:
    return Site.objects.create(name="North")


@pytest.fixture
def south() -> Site:
    return Site.objects.create(name="South")


@pytest.fixture
def north_admin(north: Site) -> Any:
    user = make_user(None, username="nora-north-admin")
    SiteRole.objects.create(user=user, site=north, role=Role.ADMIN.value)
    return user


# --- matching and the outbox -----------------------------------------------------------------------------


class TestMatching:
    def test_a_raise_writes_one_message_per_matching_channel(self, north: Site, south: Site) -> None:
        rule = make_rule(severity="major")
        other_rule = make_rule(name="Too cold")
        everywhere = webhook(name="every site")
        at_north = webhook(name="north", site=north)
        webhook(name="south", site=south)
        by_rule = webhook(name="by rule", rules=[rule])
        webhook(name="other rule", rules=[other_rule])
        webhook(name="critical only", min_severity="critical")
        webhook(name="off", enabled=False)
        webhook(name="not on raise", on_raise=False)
        alarm = raise_alarm(rule, make_endpoint(site=north))
        written = Notification.objects.filter(alarm=alarm)
        assert {n.channel_id for n in written} == {everywhere.pk, at_north.pk, by_rule.pk}
        assert {n.event for n in written} == {"raised"}
        assert all(n.status == "pending" for n in written)

    def test_a_channel_with_rules_ignores_min_severity(self) -> None:
        rule = make_rule(severity="warning")
        channel = webhook(rules=[rule], min_severity="critical")
        raise_alarm(rule, make_endpoint())
        assert Notification.objects.filter(channel=channel).count() == 1

    def test_severity_at_or_above_the_minimum(self) -> None:
        channel = webhook(min_severity="major")
        raise_alarm(make_rule(name="a", severity="minor"), make_endpoint())
        raise_alarm(make_rule(name="b", severity="major"), make_endpoint())
        raise_alarm(make_rule(name="c", severity="critical"), make_endpoint())
        assert sorted(n.body["alarm"]["severity"] for n in Notification.objects.filter(channel=channel)) == [
            "critical",
            "major",
        ]

    def test_a_site_channel_hears_only_of_its_sites_devices_even_by_rule(self, north: Site, south: Site) -> None:
        rule = make_rule()  # a rule of every site
        channel = webhook(site=north, rules=[rule])
        raise_alarm(rule, make_endpoint(site=south))
        raise_alarm(rule, make_endpoint())  # in no site
        assert not Notification.objects.filter(channel=channel).exists()
        raise_alarm(rule, make_endpoint(site=north))
        assert Notification.objects.filter(channel=channel).count() == 1

    def test_acknowledge_and_clear_as_each_channel_chose(self, operator: Any) -> None:
        rule = make_rule()
        all_three = webhook(name="all", on_acknowledge=True)
        raise_only = webhook(name="raise only", on_clear=False)
        alarm = raise_alarm(rule, make_endpoint())
        change_alarm(alarm, Alarm.State.ACKNOWLEDGED, user=operator, note="on it")
        change_alarm(alarm, Alarm.State.CLEARED, value=20.0)
        events = lambda channel: [n.event for n in Notification.objects.filter(channel=channel).order_by("id")]  # noqa: E731
        assert events(all_three) == ["raised", "acknowledged", "cleared"]
        assert events(raise_only) == ["raised"]
        acknowledged = Notification.objects.get(channel=all_three, event="acknowledged").body
        assert acknowledged["change"]["user"] == "otto-operator"
        assert acknowledged["change"]["note"] == "on it"

    def test_a_change_told_twice_writes_one_message(self) -> None:
        channel = webhook()
        alarm = raise_alarm(make_rule(), make_endpoint())
        change = AlarmChange.objects.get(alarm=alarm)
        with transaction.atomic():
            alarm_changed.send(sender=Alarm, alarm=alarm, change=change)
            alarm_changed.send(sender=Alarm, alarm=alarm, change=change)
        assert Notification.objects.filter(channel=channel).count() == 1

    def test_the_message_is_written_in_the_changes_transaction(self) -> None:
        webhook()
        rule, endpoint = make_rule(), make_endpoint()

        def fail_after_the_change() -> None:
            with transaction.atomic():
                raise_alarm(rule, endpoint)
                raise RuntimeError("the alarm change failed")

        with pytest.raises(RuntimeError):
            fail_after_the_change()
        assert not Alarm.objects.exists()
        assert not Notification.objects.exists()

    def test_the_body_tells_of_the_alarm_device_and_rule(self, settings: Any, north: Site) -> None:
        settings.PUBLIC_BASE_URL = "https://fieldhub.example.com"
        channel = webhook()
        rule = make_rule(name="Hot", severity="critical")
        endpoint = make_endpoint(name="urn:imei:350000000000777", site=north)
        alarm = raise_alarm(rule, endpoint, value=41.5)
        message = Notification.objects.get(channel=channel)
        body = message.body
        assert body["key"] == message.key
        assert len(message.key) == 32
        assert body["event"] == "raised"
        assert body["alarm"]["id"] == alarm.pk
        assert body["alarm"]["state"] == "active"
        assert body["alarm"]["severity"] == "critical"
        assert body["alarm"]["path"] == "/3303/0/5700"
        assert body["alarm"]["raised_value"] == 41.5
        assert body["alarm"]["raised_at"] is not None
        assert body["alarm"]["url"] == f"https://fieldhub.example.com/alarms/{alarm.pk}/"
        assert body["device"] == {"name": "urn:imei:350000000000777", "site": {"id": north.pk, "name": "North"}}
        assert body["rule"] == {"id": rule.pk, "name": "Hot", "kind": "above"}
        assert body["channel"] == {"id": channel.pk, "name": channel.name}
        assert SECRET not in json.dumps(body)

    def test_without_a_public_url_the_link_is_a_path(self) -> None:
        webhook()
        alarm = raise_alarm(make_rule(), make_endpoint())
        assert Notification.objects.get().body["alarm"]["url"] == f"/alarms/{alarm.pk}/"

    def test_no_channel_no_message(self) -> None:
        raise_alarm(make_rule(), make_endpoint())
        assert not Notification.objects.exists()


# --- channel services ------------------------------------------------------------------------------------


class TestChannelServices:
    def test_an_admin_creates_a_webhook_and_an_email_channel(self, admin_user: Any, north: Site) -> None:
        rule = make_rule()
        hook = services.channel_create(
            actor=admin_user,
            name=" Hook ",
            kind="webhook",
            url="https://h.example.com/x",
            secret=SECRET,
            rule_ids=[rule.pk],
        )
        assert (hook.name, hook.url, hook.secret, hook.site_id) == ("Hook", "https://h.example.com/x", SECRET, None)
        assert list(hook.rules.all()) == [rule]
        mail = services.channel_create(
            actor=admin_user,
            name="Mail",
            kind="email",
            recipients=[" ops@example.com", "ops@example.com", "b@example.org"],
            site_id=north.pk,
            min_severity="major",
        )
        assert mail.recipients == ["ops@example.com", "b@example.org"]
        assert mail.created_by == admin_user

    @pytest.mark.parametrize(
        ("fields", "path", "text"),
        [
            ({"name": ""}, "name", "a channel needs a name"),
            ({"name": "x" * 101}, "name", "a channel needs a name"),
            ({"kind": "sms"}, "kind", "kind must be one of webhook, email"),
            ({"url": ""}, "url", "a webhook needs a URL"),
            ({"url": "ftp://h.example.com/"}, "url", "http:// or https://"),
            ({"url": "javascript:alert(1)"}, "url", "http:// or https://"),
            ({"url": "http:///nohost"}, "url", "http:// or https://"),
            ({"url": "http://h.example.com:99999999/"}, "url", "not a valid URL"),
            ({"url": "http://h.example.com/a b"}, "url", "no spaces"),
            ({"url": "https://h.example.com/" + "x" * 500}, "url", "at most 500"),
            ({"secret": ""}, "secret", "a webhook needs a secret of 16 to 200"),
            ({"secret": "short"}, "secret", "a webhook needs a secret"),
            ({"min_severity": "huge"}, "min_severity", "min_severity must be one of"),
            ({"digest_after": 0}, "digest_after", "between 1 and"),
            ({"site_id": 987654}, "site", "no site 987654"),
            ({"rule_ids": [987654]}, "rules", "no alarm rule 987654"),
            ({"rule_ids": [2**63]}, "rules", "no such id"),
            ({"site_id": 2**64}, "site", "no such id"),
            ({"name": "a\x00b"}, "name", "NUL"),
            ({"url": "https://h.example.com/\x00"}, "url", "NUL"),
            ({"secret": "x" * 16 + "\x00"}, "secret", "NUL"),
        ],
    )
    def test_it_refuses_a_bad_webhook_field_and_stores_nothing(
        self, admin_user: Any, fields: dict[str, Any], path: str, text: str
    ) -> None:
        given = {"name": "Hook", "kind": "webhook", "url": "https://h.example.com/", "secret": SECRET, **fields}
        with pytest.raises(FieldhubError) as caught:
            services.channel_create(actor=admin_user, **given)
        assert caught.value.status == 422
        assert caught.value.path == path
        assert text in str(caught.value)
        assert not NotificationChannel.objects.exists()

    @pytest.mark.parametrize(
        ("recipients", "text"),
        [
            ([], "at least one address"),
            (["not-an-address"], "'not-an-address' is not an e-mail address"),
            (["a@example.com", "b@@example.com"], "is not an e-mail address"),
            ([f"u{i}@example.com" for i in range(21)], "at most 20"),
            (["a" * 250 + "@example.com"], "at most 254 characters"),
        ],
    )
    def test_it_refuses_bad_addresses(self, admin_user: Any, recipients: list[str], text: str) -> None:
        with pytest.raises(FieldhubError) as caught:
            services.channel_create(actor=admin_user, name="Mail", kind="email", recipients=recipients)
        assert caught.value.path == "recipients"
        assert text in str(caught.value)
        assert not NotificationChannel.objects.exists()

    def test_a_site_channel_may_not_list_another_sites_rule(self, admin_user: Any, north: Site, south: Site) -> None:
        theirs = make_rule(site=south)
        with pytest.raises(FieldhubError, match="not of this channel's site") as caught:
            services.channel_create(
                actor=admin_user,
                name="x",
                kind="email",
                recipients=["a@example.com"],
                site_id=north.pk,
                rule_ids=[theirs.pk],
            )
        assert caught.value.path == "rules"

    def test_a_site_admin_manages_their_sites_channels_only(self, north_admin: Any, north: Site, south: Site) -> None:
        mine = services.channel_create(
            actor=north_admin, name="n", kind="email", recipients=["a@example.com"], site_id=north.pk
        )
        for site_id in (south.pk, None):
            with pytest.raises(PermissionDenied):
                services.channel_create(
                    actor=north_admin, name="x", kind="email", recipients=["a@example.com"], site_id=site_id
                )
        with pytest.raises(PermissionDenied):  # moving it out of their site
            services.channel_update(actor=north_admin, channel=mine, site_id=south.pk)
        theirs = webhook(site=south)
        with pytest.raises(PermissionDenied):
            services.channel_update(actor=north_admin, channel=theirs, name="mine now")
        with pytest.raises(PermissionDenied):
            services.channel_delete(actor=north_admin, channel=theirs)
        assert [c.pk for c in selectors.channel_list(user=north_admin)] == [mine.pk]
        with pytest.raises(NotFound):
            selectors.channel_get(user=north_admin, pk=theirs.pk)

    @pytest.mark.parametrize("persona", ["viewer", "operator", "outsider"])
    def test_viewers_and_operators_manage_no_channel(self, request: Any, persona: str) -> None:
        user = request.getfixturevalue(persona)
        with pytest.raises(PermissionDenied):
            services.channel_create(actor=user, name="x", kind="email", recipients=["a@example.com"])
        with pytest.raises(PermissionDenied):
            selectors.channel_list(user=user)

    def test_an_update_keeps_the_secret_unless_a_new_one_is_given(self, admin_user: Any) -> None:
        channel = webhook()
        services.channel_update(actor=admin_user, channel=channel, name="renamed", secret="")
        channel.refresh_from_db()
        assert (channel.name, channel.secret) == ("renamed", SECRET)
        services.channel_update(actor=admin_user, channel=channel, secret="another-secret-of-length")
        channel.refresh_from_db()
        assert channel.secret == "another-secret-of-length"

    def test_a_refused_update_changes_nothing(self, admin_user: Any) -> None:
        channel = webhook()
        with pytest.raises(FieldhubError) as caught:
            services.channel_update(actor=admin_user, channel=channel, name="new", url="gopher://x")
        assert caught.value.path == "url"
        channel.refresh_from_db()
        assert channel.name == "Ops hook"

    def test_a_test_message_goes_through_the_outbox(self, admin_user: Any) -> None:
        channel = webhook()
        message = services.channel_test(actor=admin_user, channel=channel)
        assert (message.channel, message.event, message.status) == (channel, "test", "pending")
        assert message.body["key"] == message.key
        assert "ada-admin" in message.body["message"]


# --- the API -------------------------------------------------------------------------------------------------

CHANNELS = "/api/v1/notification-channels"


class TestApi:
    def test_an_admin_creates_reads_changes_and_deletes_a_channel(self, admin_user: Any) -> None:
        client = as_user(admin_user)
        rule = make_rule()
        answer = send(
            client,
            "POST",
            CHANNELS,
            {"name": "Hook", "kind": "webhook", "url": "https://h.example.com/", "secret": SECRET, "rules": [rule.pk]},
        )
        assert answer.status_code == 201, answer.content
        created = answer.json()
        assert created["has_secret"] is True
        assert created["rules"] == [rule.pk]
        assert created["site"] is None
        assert "secret" not in created
        pk = created["id"]
        answer = send(client, "PATCH", f"{CHANNELS}/{pk}", {"name": "Renamed", "on_acknowledge": True, "rules": []})
        assert answer.status_code == 200, answer.content
        assert (answer.json()["name"], answer.json()["on_acknowledge"], answer.json()["rules"]) == ("Renamed", True, [])
        assert client.get(CHANNELS).json()["count"] == 1
        assert client.get(f"{CHANNELS}/{pk}").json()["name"] == "Renamed"
        assert send(client, "DELETE", f"{CHANNELS}/{pk}").status_code == 204
        assert not NotificationChannel.objects.exists()

    def test_the_secret_is_never_in_an_answer(self, admin_user: Any) -> None:
        client = as_user(admin_user)
        channel = webhook()
        services.channel_test(actor=admin_user, channel=channel)
        for url in (CHANNELS, f"{CHANNELS}/{channel.pk}", f"{CHANNELS}/{channel.pk}/deliveries"):
            answer = client.get(url)
            assert answer.status_code == 200
            assert SECRET.encode() not in answer.content
        answer = send(client, "PATCH", f"{CHANNELS}/{channel.pk}", {"name": "x"})
        assert SECRET.encode() not in answer.content

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({"name": "h", "kind": "webhook", "url": "ftp://x", "secret": SECRET}, "url"),
            ({"name": "h", "kind": "webhook", "url": "https://x.example.com", "secret": "short"}, "secret"),
            ({"name": "m", "kind": "email", "recipients": ["nope"]}, "recipients"),
            ({"name": "m", "kind": "email", "recipients": ["a@example.com"], "min_severity": "x"}, "min_severity"),
            ({"name": "", "kind": "email", "recipients": ["a@example.com"]}, "name"),
            ({"name": "m", "kind": "pager"}, "kind"),
        ],
    )
    def test_it_answers_422_naming_the_field(self, admin_user: Any, body: dict[str, Any], path: str) -> None:
        answer = send(as_user(admin_user), "POST", CHANNELS, body)
        assert answer.status_code == 422
        assert answer.json()["path"] == path
        assert answer.json()["detail"].startswith(f"{path}: ")
        assert not NotificationChannel.objects.exists()

    def test_an_unknown_field_is_refused(self, admin_user: Any) -> None:
        answer = send(as_user(admin_user), "POST", CHANNELS, {"name": "m", "kind": "email", "password": "x"})
        assert answer.status_code == 422
        assert "password" in answer.json()["detail"]

    @pytest.mark.parametrize("persona", ["viewer", "operator", "outsider"])
    def test_viewers_and_operators_are_refused(self, request: Any, persona: str) -> None:
        client = as_user(request.getfixturevalue(persona))
        channel = webhook()
        assert client.get(CHANNELS).status_code == 403
        assert client.get(f"{CHANNELS}/{channel.pk}").status_code == 403
        assert client.get(f"{CHANNELS}/{channel.pk}/deliveries").status_code == 403
        body = {"name": "m", "kind": "email", "recipients": ["a@example.com"]}
        assert send(client, "POST", CHANNELS, body).status_code == 403
        assert send(client, "POST", f"{CHANNELS}/{channel.pk}/test").status_code == 403
        assert not Notification.objects.exists()

    def test_anonymous_is_401(self) -> None:
        assert Client().get(CHANNELS).status_code == 401

    def test_a_site_admin_sees_and_manages_their_sites_channels(
        self, north_admin: Any, north: Site, south: Site
    ) -> None:
        client = as_user(north_admin)
        theirs, everywhere = webhook(name="south", site=south), webhook(name="every")
        answer = send(
            client, "POST", CHANNELS, {"name": "n", "kind": "email", "recipients": ["a@example.com"], "site": north.pk}
        )
        assert answer.status_code == 201, answer.content
        assert [c["name"] for c in client.get(CHANNELS).json()["items"]] == ["n"]
        for other in (theirs, everywhere):
            assert client.get(f"{CHANNELS}/{other.pk}").status_code == 404
            assert send(client, "PATCH", f"{CHANNELS}/{other.pk}", {"name": "x"}).status_code == 404
        for site in (south.pk, None):
            body = {"name": "x", "kind": "email", "recipients": ["a@example.com"], "site": site}
            assert send(client, "POST", CHANNELS, body).status_code == 403
        assert send(client, "PATCH", f"{CHANNELS}/{answer.json()['id']}", {"site": None}).status_code == 403

    def test_the_delivery_log(self, admin_user: Any) -> None:
        client = as_user(admin_user)
        channel = webhook()
        for _ in range(3):
            raise_alarm(make_rule(), make_endpoint())
        Notification.objects.filter(channel=channel).update(status="failed", last_error="HTTP 404: gone")
        services.channel_test(actor=admin_user, channel=channel)
        page = client.get(f"{CHANNELS}/{channel.pk}/deliveries?limit=2").json()
        assert page["count"] == 4
        assert len(page["items"]) == 2
        assert page["items"][0]["event"] == "test"
        failed = client.get(f"{CHANNELS}/{channel.pk}/deliveries?status=failed").json()
        assert failed["count"] == 3
        assert failed["items"][0]["last_error"] == "HTTP 404: gone"
        assert failed["items"][0]["next_attempt_at"] is None
        answer = client.get(f"{CHANNELS}/{channel.pk}/deliveries?status=lost")
        assert answer.status_code == 422
        assert answer.json()["path"] == "status"

    def test_test_answers_202_with_the_message(self, admin_user: Any) -> None:
        channel = webhook()
        answer = send(as_user(admin_user), "POST", f"{CHANNELS}/{channel.pk}/test")
        assert answer.status_code == 202
        assert answer.json()["event"] == "test"
        assert answer.json()["status"] == "pending"

    def test_an_unknown_channel_is_404(self, admin_user: Any) -> None:
        assert as_user(admin_user).get(f"{CHANNELS}/999999").status_code == 404


# --- the pages -----------------------------------------------------------------------------------------------


class TestPages:
    def test_an_admin_sees_the_channels_and_the_menu_entry(self, admin_user: Any) -> None:
        webhook(name="Ops hook")
        client = as_user(admin_user)
        page = client.get("/notifications/")
        assert page.status_code == 200
        assert b"Ops hook" in page.content
        assert b'href="/notifications/"' in client.get("/").content

    @pytest.mark.parametrize("persona", ["viewer", "operator"])
    def test_viewers_and_operators_get_403_and_no_menu_entry(self, request: Any, persona: str) -> None:
        client = as_user(request.getfixturevalue(persona))
        channel = webhook()
        assert client.get("/notifications/").status_code == 403
        assert client.get(f"/notifications/{channel.pk}/").status_code == 403
        assert client.post(f"/notifications/{channel.pk}/test/").status_code == 403
        assert b'href="/notifications/"' not in client.get("/").content
        assert not Notification.objects.exists()

    def test_anonymous_is_sent_to_the_login(self) -> None:
        assert Client().get("/notifications/").status_code == 302

    def test_an_admin_creates_a_webhook_with_the_form(self, admin_user: Any) -> None:
        rule = make_rule()
        client = as_user(admin_user)
        assert client.get("/notifications/new/").status_code == 200
        answer = client.post(
            "/notifications/new/",
            {
                "name": "Form hook",
                "kind": "webhook",
                "url": "https://h.example.com/in",
                "secret": SECRET,
                "site": "",
                "rules": [str(rule.pk)],
                "min_severity": "major",
                "enabled": "on",
                "on_raise": "on",
            },
        )
        channel = NotificationChannel.objects.get()
        assert answer.status_code == 302
        assert answer["Location"] == f"/notifications/{channel.pk}/"
        assert (channel.url, channel.secret, channel.on_clear, channel.on_raise) == (
            "https://h.example.com/in",
            SECRET,
            False,
            True,
        )
        assert list(channel.rules.all()) == [rule]

    def test_a_refused_form_says_why_and_stores_nothing(self, admin_user: Any) -> None:
        answer = as_user(admin_user).post(
            "/notifications/new/", {"name": "m", "kind": "email", "recipients": "ops@example.com\nnot-an-address"}
        )
        assert answer.status_code == 422
        assert b"recipients: &#x27;not-an-address&#x27; is not an e-mail address" in answer.content
        assert b"not-an-address" in answer.content  # the form comes back as sent
        assert not NotificationChannel.objects.exists()

    def test_a_malformed_number_is_a_422(self, admin_user: Any) -> None:
        answer = as_user(admin_user).post(
            "/notifications/new/", {"name": "m", "kind": "email", "recipients": "a@example.com", "digest_after": "ten"}
        )
        assert answer.status_code == 422
        assert b"digest_after: must be a whole number" in answer.content

    def test_the_channel_page_shows_the_log_and_never_the_secret(self, admin_user: Any) -> None:
        channel = webhook()
        raise_alarm(make_rule(), make_endpoint())
        Notification.objects.update(status="failed", attempts=3, last_error="HTTP 410: gone for good")
        page = as_user(admin_user).get(f"/notifications/{channel.pk}/")
        assert page.status_code == 200
        assert b"HTTP 410: gone for good" in page.content
        assert b"Send a test message" in page.content
        assert SECRET.encode() not in page.content
        assert SECRET.encode() not in as_user(admin_user).get("/notifications/").content

    def test_the_log_is_paged(self, admin_user: Any) -> None:
        channel = webhook()
        Notification.objects.bulk_create(
            [
                Notification(
                    channel=channel, key=f"k{i:030d}", event="test", body={}, next_attempt_at="2026-01-01T00:00Z"
                )
                for i in range(60)
            ]
        )
        client = as_user(admin_user)
        first = client.get(f"/notifications/{channel.pk}/")
        assert b"page 1 of 2" in first.content
        assert b'rel="next"' in first.content
        second = client.get(f"/notifications/{channel.pk}/?page=2")
        assert b"page 2 of 2" in second.content
        assert client.get(f"/notifications/{channel.pk}/?page=x").status_code == 422

    def test_saving_with_an_empty_secret_keeps_it(self, admin_user: Any) -> None:
        channel = webhook()
        answer = as_user(admin_user).post(
            f"/notifications/{channel.pk}/",
            {
                "name": "Renamed",
                "url": channel.url,
                "secret": "",
                "min_severity": "warning",
                "enabled": "on",
                "on_raise": "on",
            },
        )
        assert answer.status_code == 302
        channel.refresh_from_db()
        assert (channel.name, channel.secret, channel.on_clear) == ("Renamed", SECRET, False)

    def test_the_test_button_queues_a_message(self, admin_user: Any) -> None:
        channel = webhook()
        answer = as_user(admin_user).post(f"/notifications/{channel.pk}/test/")
        assert answer.status_code == 302
        assert Notification.objects.get().event == "test"

    def test_delete(self, admin_user: Any) -> None:
        channel = webhook()
        assert as_user(admin_user).post(f"/notifications/{channel.pk}/delete/").status_code == 302
        assert not NotificationChannel.objects.exists()

    def test_a_site_admin_gets_their_site_only(self, north_admin: Any, north: Site, south: Site) -> None:
        mine, theirs = webhook(name="mine", site=north), webhook(name="theirs", site=south)
        client = as_user(north_admin)
        listing = client.get("/notifications/")
        assert b"mine" in listing.content
        assert b"theirs" not in listing.content
        assert client.get(f"/notifications/{mine.pk}/").status_code == 200
        assert client.get(f"/notifications/{theirs.pk}/").status_code == 404
        form = client.get("/notifications/new/").content
        assert b"every site" not in form
        assert b">North<" in form
        assert b">South<" not in form


class TestQueries:
    def test_the_channel_list_costs_the_same_for_many_channels(self, admin_user: Any, north: Site) -> None:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        rule = make_rule()
        client = as_user(admin_user)

        def cost() -> int:
            with CaptureQueriesContext(connection) as page:
                assert client.get("/notifications/").status_code == 200
            return len(page.captured_queries)

        webhook(name="first", site=north, rules=[rule])
        one = cost()
        for number in range(5):
            webhook(name=f"more {number}", site=north, rules=[rule])
        assert cost() == one

    def test_the_selector_reads_channels_sites_and_rules_in_two_queries(
        self, admin_user: Any, north: Site, django_assert_num_queries: Any
    ) -> None:
        rule = make_rule()
        for number in range(4):
            webhook(name=f"c{number}", site=north, rules=[rule])
        selectors.channel_list(user=admin_user).exists()  # the user's roles, looked up once
        with django_assert_num_queries(2):  # the channels with their sites, their rules
            rows = list(selectors.channel_list(user=admin_user))
            assert [sorted(r.pk for r in row.rules.all()) for row in rows] == [[rule.pk]] * 4
            assert {row.site.name for row in rows} == {"North"}

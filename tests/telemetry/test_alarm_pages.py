"""The alarm pages: /alarms/ (filters, bad filters, pagination), /alarms/<id>/ (the alarm and its history),
acknowledging and clearing from the pages (htmx and plain posts, every refusal), what each persona sees
and may do (site personas included), the dashboard's panel and marks, the device page's alarms, and that
every change is pushed after its commit."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from core.models import Endpoint, Site, SiteRole
from core.permissions import SYSTEM
from core.roles import Role
from telemetry.alarms import presenters, services
from telemetry.alarms.models import Alarm, AlarmChange, AlarmRule, Severity
from tests.factories import make_endpoint, make_user

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def rule(name: str = "too hot", severity: str = Severity.MAJOR, **fields: Any) -> AlarmRule:
    fields.setdefault("kind", AlarmRule.Kind.ABOVE)
    fields.setdefault("path", "/3303/*/5700")
    fields.setdefault("threshold", 30.0)
    return AlarmRule.objects.create(name=name, severity=severity, **fields)


def raise_alarm(on: Endpoint, by: AlarmRule, *, at: dt.datetime = T0, value: Any = 31.5) -> Alarm:
    with transaction.atomic():
        alarm = services.alarm_raise(rule=by, endpoint=on, at=at, value=value, path="/3303/0/5700", message="hot")
    assert alarm is not None
    return alarm


def client_of(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def htmx(client: Client, url: str, data: dict[str, str] | None = None) -> Any:
    return client.post(url, data or {}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="alarm-answer")


def alarm_rows(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="alarm-row-(\d+)"', html)]


@pytest.fixture
def sites() -> dict[str, Site]:
    return {"home": Site.objects.create(name="home"), "away": Site.objects.create(name="away")}


@pytest.fixture
def fleet(sites: dict[str, Site]) -> dict[str, Any]:
    hot, wet = rule("too hot", Severity.CRITICAL), rule("too wet", Severity.MINOR)
    at_home = make_endpoint(name="dev-home", site=sites["home"])
    away = make_endpoint(name="dev-away", site=sites["away"])
    loose = make_endpoint(name="dev-loose")
    alarms = {
        "home-hot": raise_alarm(at_home, hot, at=T0),
        "home-wet": raise_alarm(at_home, wet, at=T0 + dt.timedelta(minutes=1)),
        "away-hot": raise_alarm(away, hot, at=T0 + dt.timedelta(minutes=2)),
        "loose-wet": raise_alarm(loose, wet, at=T0 + dt.timedelta(minutes=3)),
    }
    return {"hot": hot, "wet": wet, "home": at_home, "away": away, "loose": loose, **alarms}


def site_user(site: Site, role: Role, username: str) -> Any:
    user = make_user(None, username=username)
    SiteRole.objects.create(user=user, site=site, role=role.value)
    return user


class TestTheList:
    def test_it_lists_alarms_newest_first_with_their_rule_device_and_state(self, viewer, fleet) -> None:
        response = client_of(viewer).get("/alarms/")
        assert response.status_code == 200
        html = response.content.decode()
        order = ["loose-wet", "away-hot", "home-wet", "home-hot"]
        assert alarm_rows(html) == [fleet[name].pk for name in order]
        assert "data-new-rows" in html  # the first page of every alarm takes new ones live
        assert "too hot" in html
        assert "dev-home" in html
        assert "4 alarms" in html
        assert 'class="sev sev-critical">critical<' in html  # the word, not the colour alone

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("state=open", ["loose-wet", "home-wet", "home-hot"]),
            ("state=acknowledged", ["home-wet"]),
            ("state=cleared", ["away-hot"]),
            ("state=active", ["loose-wet", "home-hot"]),
            ("severity=critical", ["away-hot", "home-hot"]),
            ("endpoint=dev-home", ["home-wet", "home-hot"]),
            ("endpoint=nobody", []),
            ("severity=MINOR&state=Open", ["loose-wet", "home-wet"]),  # case does not matter
        ],
    )
    def test_it_filters(self, viewer, operator, fleet, query: str, expected: list[str]) -> None:
        services.alarm_acknowledge(actor=operator, alarm=fleet["home-wet"], note="")
        services.alarm_clear(actor=operator, alarm=fleet["away-hot"], note="")
        html = client_of(viewer).get(f"/alarms/?{query}").content.decode()
        assert alarm_rows(html) == [fleet[name].pk for name in expected]

    def test_it_filters_by_site_and_rule(self, viewer, fleet, sites) -> None:
        client = client_of(viewer)
        html = client.get(f"/alarms/?site={sites['home'].pk}").content.decode()
        assert alarm_rows(html) == [fleet["home-wet"].pk, fleet["home-hot"].pk]
        html = client.get(f"/alarms/?rule={fleet['hot'].pk}").content.decode()
        assert alarm_rows(html) == [fleet["away-hot"].pk, fleet["home-hot"].pk]
        assert "Rule: too hot" in html
        assert "data-new-rows" not in html  # filtered: new alarms are not put on top

    @pytest.mark.parametrize(
        ("query", "text"),
        [
            ("state=sleeping", "state: state must be one of open, active, acknowledged, cleared"),
            ("severity=fatal", "severity: severity must be one of critical, major, minor, warning"),
            ("site=home", "site: site must be a site&#x27;s id (a whole number, 1 or more), not &#x27;home&#x27;"),
            ("site=0", "site: site must be a site&#x27;s id"),
            ("rule=-3", "rule: rule must be a rule&#x27;s id"),
            ("rule=99999999999999999999", "rule: rule must be a rule&#x27;s id"),
            ("page=two", "page: page must be a page number"),
            ("page=0", "page: page must be a page number"),
        ],
    )
    def test_a_bad_filter_is_a_422_that_says_what_is_wrong(self, viewer, fleet, query: str, text: str) -> None:
        response = client_of(viewer).get(f"/alarms/?{query}")
        assert response.status_code == 422
        html = response.content.decode()
        assert text in html
        assert alarm_rows(html) == []
        assert '<form method="get"' in html  # the page, with its form to put it right

    def test_it_pages_50_at_a_time(self, viewer) -> None:
        hot = rule()
        for n in range(53):
            raise_alarm(make_endpoint(name=f"dev-{n:02}"), hot, at=T0 + dt.timedelta(minutes=n))
        client = client_of(viewer)
        first = client.get("/alarms/").content.decode()
        assert len(alarm_rows(first)) == 50
        assert "53 alarms, page 1 of 2" in first
        assert 'href="/alarms/?page=2" rel="next"' in first
        second = client.get("/alarms/?page=2").content.decode()
        assert len(alarm_rows(second)) == 3
        assert 'href="/alarms/" rel="prev"' in second
        assert "data-new-rows" not in second
        beyond = client.get("/alarms/?page=9")
        assert beyond.status_code == 200
        assert len(alarm_rows(beyond.content.decode())) == 3
        assert "severity=critical&amp;page=2" not in first

    def test_the_pager_keeps_the_filters(self, viewer) -> None:
        hot = rule(severity=Severity.CRITICAL)
        for n in range(51):
            raise_alarm(make_endpoint(name=f"dev-{n:02}"), hot, at=T0 + dt.timedelta(minutes=n))
        html = client_of(viewer).get("/alarms/?severity=critical").content.decode()
        assert 'href="/alarms/?severity=critical&amp;page=2"' in html

    def test_an_empty_list_says_so(self, viewer) -> None:
        html = client_of(viewer).get("/alarms/").content.decode()
        assert "No alarms yet" in html

    def test_anonymous_users_log_in_and_outsiders_are_refused(self, client, outsider) -> None:
        assert client.get("/alarms/").status_code == 302
        assert client_of(outsider).get("/alarms/").status_code == 403


class TestTheDetail:
    def test_it_shows_the_alarm_and_its_history(self, operator, viewer, fleet) -> None:
        alarm = fleet["home-hot"]
        services.alarm_acknowledge(actor=operator, alarm=alarm, note="on my way")
        with transaction.atomic():
            found = Alarm.objects.select_for_update().get(pk=alarm.pk)
            services.alarm_clear_by_condition(alarm=found, at=timezone.now() + dt.timedelta(minutes=1), value=24.0)
        response = client_of(viewer).get(f"/alarms/{alarm.pk}/")
        assert response.status_code == 200
        html = response.content.decode()
        assert "too hot" in html
        assert "dev-home" in html
        assert "home" in html
        history = html.split('class="alarm-history"')[1]
        steps = re.findall(r'<span class="alarm-state as-(\w+)">(\w+)</span>', history)
        assert steps == [("active", "raised"), ("acknowledged", "acknowledged"), ("cleared", "cleared")]
        assert "31.5" in history
        assert "24.0" in history
        assert "otto-operator" in history
        assert "on my way" in history
        assert "its condition" in history
        assert "by its condition, at the value" in html

    def test_an_unknown_alarm_is_404(self, viewer) -> None:
        response = client_of(viewer).get("/alarms/999999/")
        assert response.status_code == 404
        assert "no alarm 999999" in response.content.decode()

    def test_controls_are_for_operators_of_the_devices_site(self, viewer, operator, fleet, sites) -> None:
        url = f"/alarms/{fleet['home-hot'].pk}/"
        body_of = re.compile(r"<body[^>]*>")
        assert "data-can-operate" not in body_of.search(client_of(viewer).get(url).content.decode()).group(0)
        assert "data-can-operate" in body_of.search(client_of(operator).get(url).content.decode()).group(0)
        home_operator = site_user(sites["home"], Role.OPERATOR, "home-op")
        assert "data-can-operate" in body_of.search(client_of(home_operator).get(url).content.decode()).group(0)
        home_viewer = site_user(sites["home"], Role.VIEWER, "home-viewer")
        assert "data-can-operate" not in body_of.search(client_of(home_viewer).get(url).content.decode()).group(0)
        assert 'class="needs-operator alarm-actions"' in client_of(viewer).get(url).content.decode()


class TestActing:
    def test_an_operator_acknowledges_with_a_note_by_htmx(self, operator, fleet) -> None:
        alarm = fleet["home-hot"]
        response = htmx(client_of(operator), f"/alarms/{alarm.pk}/acknowledge/", {"note": "  looking into it "})
        assert response.status_code == 200
        assert f"Alarm {alarm.pk} (too hot on dev-home) acknowledged." in response.content.decode()
        alarm.refresh_from_db()
        assert alarm.state == Alarm.State.ACKNOWLEDGED
        assert alarm.note == "looking into it"
        assert alarm.acknowledged_by == operator
        change = AlarmChange.objects.filter(alarm=alarm).last()
        assert change is not None
        assert change.state == "acknowledged"
        assert change.user == operator

    def test_an_operator_clears_without_javascript_and_goes_back(self, operator, fleet) -> None:
        alarm = fleet["home-hot"]
        client = client_of(operator)
        response = client.post(
            f"/alarms/{alarm.pk}/clear/", {"note": "fixed"}, HTTP_REFERER="http://testserver/alarms/?state=open"
        )
        assert response.status_code == 302
        assert response["Location"] == "http://testserver/alarms/?state=open"
        alarm.refresh_from_db()
        assert alarm.state == Alarm.State.CLEARED
        assert alarm.cleared_by == operator
        assert alarm.note == "fixed"
        page = client.get("/alarms/").content.decode()
        assert "(too hot on dev-home) cleared." in page  # the message, on the page it went back to

    def test_without_a_referer_it_goes_to_the_alarm(self, operator, fleet) -> None:
        alarm = fleet["home-hot"]
        response = client_of(operator).post(f"/alarms/{alarm.pk}/acknowledge/")
        assert response.status_code == 302
        assert response["Location"] == f"/alarms/{alarm.pk}/"

    @pytest.mark.parametrize(
        ("first", "then"), [("acknowledge", "acknowledge"), ("clear", "acknowledge"), ("clear", "clear")]
    )
    def test_acting_twice_is_a_409_that_says_why(self, operator, fleet, first: str, then: str) -> None:
        alarm = fleet["home-hot"]
        client = client_of(operator)
        assert htmx(client, f"/alarms/{alarm.pk}/{first}/").status_code == 200
        changes = AlarmChange.objects.count()
        response = htmx(client, f"/alarms/{alarm.pk}/{then}/", {"note": "again"})
        assert response.status_code == 409
        html = response.content.decode()
        assert 'role="alert"' in html
        expected = "Not acknowledged: the alarm is" if then == "acknowledge" else "Not cleared: the alarm is cleared"
        assert expected in html
        assert AlarmChange.objects.count() == changes  # nothing stored

    def test_a_409_without_javascript_is_a_message(self, operator, fleet) -> None:
        alarm = fleet["home-hot"]
        client = client_of(operator)
        client.post(f"/alarms/{alarm.pk}/clear/")
        response = client.post(f"/alarms/{alarm.pk}/clear/", follow=True)
        assert response.status_code == 200
        assert f"Alarm {alarm.pk} not cleared: the alarm is cleared already" in response.content.decode()

    def test_a_note_too_long_is_a_422_naming_the_note(self, operator, fleet) -> None:
        alarm = fleet["home-hot"]
        response = htmx(client_of(operator), f"/alarms/{alarm.pk}/acknowledge/", {"note": "x" * 1001})
        assert response.status_code == 422
        assert "a note holds at most 1000 characters" in response.content.decode()
        alarm.refresh_from_db()
        assert alarm.state == Alarm.State.ACTIVE
        assert AlarmChange.objects.filter(alarm=alarm).count() == 1

    def test_a_viewer_is_refused_403(self, viewer, fleet) -> None:
        alarm = fleet["home-hot"]
        response = htmx(client_of(viewer), f"/alarms/{alarm.pk}/acknowledge/")
        assert response.status_code == 403
        assert "Not acknowledged: this needs the operator role" in response.content.decode()
        plain = client_of(viewer).post(f"/alarms/{alarm.pk}/clear/")
        assert plain.status_code == 403
        assert "Not allowed" in plain.content.decode()  # the 403 page
        alarm.refresh_from_db()
        assert alarm.state == Alarm.State.ACTIVE

    def test_an_unknown_action_or_alarm_is_404(self, operator, fleet) -> None:
        client = client_of(operator)
        assert client.post(f"/alarms/{fleet['home-hot'].pk}/snooze/").status_code == 404
        response = htmx(client, "/alarms/999999/clear/")
        assert response.status_code == 404
        assert "Not cleared: no alarm 999999" in response.content.decode()
        assert client.post("/alarms/999999/clear/").status_code == 404

    def test_get_is_not_allowed(self, operator, fleet) -> None:
        assert client_of(operator).get(f"/alarms/{fleet['home-hot'].pk}/clear/").status_code == 405

    def test_a_post_without_csrf_is_refused(self, operator, fleet) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(operator)
        assert client.post(f"/alarms/{fleet['home-hot'].pk}/clear/").status_code == 403
        fleet["home-hot"].refresh_from_db()
        assert fleet["home-hot"].state == Alarm.State.ACTIVE


class TestSitePersonas:
    def test_a_site_viewer_sees_its_sites_alarms_only(self, fleet, sites) -> None:
        client = client_of(site_user(sites["home"], Role.VIEWER, "home-viewer"))
        html = client.get("/alarms/").content.decode()
        assert alarm_rows(html) == [fleet["home-wet"].pk, fleet["home-hot"].pk]
        assert "dev-away" not in html
        assert "dev-loose" not in html
        assert client.get(f"/alarms/{fleet['away-hot'].pk}/").status_code == 404  # not disclosed
        assert client.get(f"/alarms/{fleet['loose-wet'].pk}/").status_code == 404
        assert client.get(f"/alarms/{fleet['home-hot'].pk}/").status_code == 200
        # Another site's filter shows nothing, its rule's name is not shown.
        assert alarm_rows(client.get(f"/alarms/?site={sites['away'].pk}").content.decode()) == []

    def test_a_rule_seen_only_elsewhere_is_not_named(self, fleet, sites) -> None:
        only_away = rule("secret rule")
        raise_alarm(fleet["away"], only_away)
        client = client_of(site_user(sites["home"], Role.VIEWER, "home-viewer"))
        html = client.get(f"/alarms/?rule={only_away.pk}").content.decode()
        assert "secret rule" not in html
        assert f"rule {only_away.pk}" in html

    def test_a_site_viewer_may_not_act(self, fleet, sites) -> None:
        client = client_of(site_user(sites["home"], Role.VIEWER, "home-viewer"))
        response = htmx(client, f"/alarms/{fleet['home-hot'].pk}/acknowledge/")
        assert response.status_code == 403
        assert "Not acknowledged: this needs the operator role" in response.content.decode()

    def test_a_site_operator_acts_on_its_site_only(self, fleet, sites) -> None:
        client = client_of(site_user(sites["home"], Role.OPERATOR, "home-op"))
        assert htmx(client, f"/alarms/{fleet['home-hot'].pk}/acknowledge/").status_code == 200
        assert htmx(client, f"/alarms/{fleet['away-hot'].pk}/acknowledge/").status_code == 404
        assert htmx(client, f"/alarms/{fleet['loose-wet'].pk}/clear/").status_code == 404
        fleet["away-hot"].refresh_from_db()
        assert fleet["away-hot"].state == Alarm.State.ACTIVE
        body = re.search(r"<body[^>]*>", client.get("/alarms/").content.decode())
        assert body is not None
        assert "data-can-operate" in body.group(0)

    def test_an_operator_of_one_site_viewer_of_another_acts_from_the_alarms_page(self, fleet, sites) -> None:
        user = site_user(sites["home"], Role.OPERATOR, "mixed")
        SiteRole.objects.create(user=user, site=sites["away"], role="viewer")
        client = client_of(user)
        body = re.search(r"<body[^>]*>", client.get("/alarms/").content.decode())
        assert body is not None
        assert "data-can-operate" not in body.group(0)
        body = re.search(r"<body[^>]*>", client.get(f"/alarms/{fleet['home-hot'].pk}/").content.decode())
        assert body is not None
        assert "data-can-operate" in body.group(0)
        body = re.search(r"<body[^>]*>", client.get(f"/alarms/{fleet['away-hot'].pk}/").content.decode())
        assert body is not None
        assert "data-can-operate" not in body.group(0)


class TestFleetPages:
    def test_the_dashboard_shows_open_alarms_by_severity_and_the_newest(self, viewer, operator, fleet) -> None:
        services.alarm_clear(actor=operator, alarm=fleet["loose-wet"], note="")
        html = client_of(viewer).get("/").content.decode()
        panel = html.split('id="alarm-panel"')[1].split("</section>")[0]
        counts = {s: n for n, s in re.findall(r'<span class="number">(\d+)</span> <span class="sev sev-(\w+)">', panel)}
        assert counts == {"critical": "2", "major": "0", "minor": "1", "warning": "0"}
        newest = re.findall(r'<li id="panel-alarm-(\d+)">', panel)
        assert newest == [str(fleet[n].pk) for n in ("away-hot", "home-wet", "home-hot")]
        assert 'href="/alarms/?state=open"' in panel

    def test_a_site_viewers_dashboard_has_its_sites_panel(self, fleet, sites) -> None:
        html = client_of(site_user(sites["home"], Role.VIEWER, "home-viewer")).get("/").content.decode()
        assert 'id="alarm-panel"' not in html
        panel = html.split(f'id="alarm-panel-site-{sites["home"].pk}"')[1].split("</section>")[0]
        assert "dev-home" in panel
        assert "dev-away" not in panel
        assert f"site={sites['home'].pk}" in panel

    def test_device_rows_are_marked_with_their_worst_open_alarm(self, viewer, operator, fleet) -> None:
        services.alarm_clear(actor=operator, alarm=fleet["away-hot"], note="")
        make_endpoint(name="dev-calm")
        html = client_of(viewer).get("/").content.decode()
        rows = dict(re.findall(r'<tr id="endpoint-row-(\d+)"[^>]*>(.*?)</tr>', html, re.S))
        assert 'class="alarm-mark"' in rows[str(fleet["home"].pk)]
        assert "sev-critical" in rows[str(fleet["home"].pk)]  # the worst of critical and minor
        assert "sev-minor" in rows[str(fleet["loose"].pk)]
        assert "alarm-mark" not in rows[str(fleet["away"].pk)]  # cleared: no mark
        calm = Endpoint.objects.get(name="dev-calm").pk
        assert "alarm-mark" not in rows[str(calm)]

    def test_the_device_page_lists_its_alarms(self, viewer, operator, fleet) -> None:
        services.alarm_clear(actor=operator, alarm=fleet["home-hot"], note="")
        html = client_of(viewer).get("/endpoints/dev-home/").content.decode()
        section = html.split('id="endpoint-alarms"')[1].split("</section>")[0]
        ids = re.findall(r'<tr id="device-alarm-(\d+)"', section)
        assert ids == [str(fleet["home-wet"].pk), str(fleet["home-hot"].pk)]  # the open one first
        assert "dev-away" not in section

    def test_the_navigation_counts_open_critical_and_major(self, viewer, fleet, sites) -> None:
        html = client_of(viewer).get("/events/").content.decode()
        assert re.search(r'<span id="nav-alarms-badge" class="nav-badge">2<', html)
        home = client_of(site_user(sites["home"], Role.VIEWER, "home-viewer")).get("/events/").content.decode()
        assert re.search(rf'<span id="nav-alarms-badge-site-{sites["home"].pk}" class="nav-badge">1<', home)
        assert 'id="nav-alarms-badge"' not in home

    def test_no_badge_without_urgent_alarms(self, viewer) -> None:
        assert 'class="nav-badge" hidden>0<' in client_of(viewer).get("/events/").content.decode()


class TestPushed:
    def test_each_change_is_pushed_after_its_commit(
        self, operator, fleet, monkeypatch, django_capture_on_commit_callbacks
    ) -> None:
        from realtime.publisher import publisher

        sent: list[tuple[str, str]] = []
        monkeypatch.setattr(publisher, "submit", lambda group, event: sent.append((group, event.key)))
        home = fleet["home"]
        with django_capture_on_commit_callbacks(execute=True):
            services.alarm_acknowledge(actor=operator, alarm=fleet["home-hot"], note="")
        site = home.site_id
        keys = set(sent)
        pk = fleet["home-hot"].pk
        for group in ("alarms", f"alarms.site.{site}"):
            assert (group, f"alarm-row-{pk}") in keys
            assert (group, f"alarm-detail-{pk}") in keys
            assert (group, "alarm-badge") in keys
        for group in ("dashboard", f"dashboard.site.{site}"):
            assert (group, "alarm-panel") in keys
            assert (group, f"endpoint-row-{home.pk}") in keys
        assert (f"endpoint.{home.pk}", "endpoint-alarms") in keys
        assert not any(group.endswith(f"site.{fleet['away'].site_id}") for group, _ in sent)

    def test_a_rolled_back_raise_pushes_nothing(self, monkeypatch, django_capture_on_commit_callbacks) -> None:
        from realtime.publisher import publisher

        sent: list[str] = []
        monkeypatch.setattr(publisher, "submit", lambda group, event: sent.append(group))
        device, hot = make_endpoint(name="dev-x"), rule()
        with django_capture_on_commit_callbacks(execute=True):
            try:
                with transaction.atomic():
                    services.alarm_raise(rule=hot, endpoint=device, at=timezone.now(), value=40)
                    raise RuntimeError("rolled back")
            except RuntimeError:
                pass
        assert sent == []
        assert not Alarm.objects.exists()

    def test_the_fragments_are_the_pages_parts(self, fleet, sites) -> None:
        from telemetry.alarms import partials

        pk = fleet["home-hot"].pk
        assert f'<tr id="alarm-row-{pk}"' in partials.render_row(pk)
        assert 'hx-swap-oob="afterbegin:#alarm-rows[data-new-rows]"' in partials.render_new_row(pk)
        assert partials.render_row(pk, site_id=sites["away"].pk) == ""  # not that site's
        assert f'id="alarm-detail-{pk}"' in partials.render_detail(pk)
        assert 'id="alarm-panel"' in partials.render_panel()
        assert f'id="alarm-panel-site-{sites["home"].pk}"' in partials.render_panel(site_id=sites["home"].pk)
        assert ">2<" in partials.render_badge()
        assert ">1<" in partials.render_badge(site_id=sites["home"].pk)
        assert 'id="endpoint-alarms"' in partials.render_endpoint_alarms(fleet["home"].pk)
        assert partials.render_row(999999) == ""
        assert partials.render_endpoint_alarms(999999) == ""
        assert presenters.panels(user=SYSTEM)[0].open_total == 4

"""Whatever a device sends, what the pages list and what a push carries stays small: long values are cut
(all of them a link away), a post of thousands of values renders a bounded page, no frame exceeds 256 KB."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.test import Client

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.models import Endpoint
from core.roles import Role
from core.templatetags.fieldhub import SHOWN_CHARS
from realtime.publisher import MAX_FRAME_BYTES, Publisher
from telemetry import partials, presenters
from telemetry.ingest import ingest
from telemetry.models import Event
from tests.factories import make_user

pytestmark = pytest.mark.django_db

HOSTILE = "<" * 360_000  # what one device posted in the review: every character escapes to four


def page(user: Any, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_a_huge_value_is_cut_on_every_page_and_in_every_push() -> None:
    viewer = make_user(Role.VIEWER)
    readings = [Reading(Path(3, 0, 17), DataType.STRING, HOSTILE), Reading(Path(3, 0, 9), DataType.INTEGER, 80)]
    ingest(endpoint_name="urn:dev:loud", readings=readings)
    endpoint = Endpoint.objects.get(name="urn:dev:loud")
    event = Event.objects.get(endpoint=endpoint)
    pushed = {
        "latest values": partials.render_latest_values(endpoint.pk),
        "status": partials.render_endpoint_status(endpoint.pk),
        "event": partials.render_event(presenters.summarize_event(event)),
        "row": partials.render_endpoint_row(endpoint.pk),
    }
    for what, fragment in pushed.items():
        assert len(fragment.encode()) < 20_000, what
    latest = pushed["latest values"]
    assert "&lt;" * SHOWN_CHARS + "…" in latest
    assert "all 360,000 characters" in latest  # the whole value, one click away
    link = html.unescape(latest.split('class="full-value" href="')[1].split('"')[0])
    client = Client()
    client.force_login(viewer)
    full = client.get(link).json()
    assert full["items"][0]["value"] == HOSTILE
    for url in ("/", "/events/", f"/endpoints/{endpoint.name}/"):
        assert len(page(viewer, url).encode()) < 60_000, url


def test_a_post_of_thousands_of_values_renders_a_bounded_page() -> None:
    viewer = make_user(Role.VIEWER)
    readings = [Reading(Path(3200, i, 5500), DataType.BOOLEAN, bool(i % 2)) for i in range(5000)]
    ingest(endpoint_name="urn:dev:wide", readings=readings)
    endpoint = Endpoint.objects.get(name="urn:dev:wide")
    latest = partials.render_latest_values(endpoint.pk)
    assert latest.count("<tr id=") == presenters.LATEST_VALUES_SHOWN
    assert f"The first {presenters.LATEST_VALUES_SHOWN} of 5000 values" in latest
    assert len(latest.encode()) < MAX_FRAME_BYTES
    event = partials.render_event(presenters.summarize_event(Event.objects.get(endpoint=endpoint)))
    assert f"and {5000 - presenters.EVENT_VALUES_SHOWN} more" in event
    assert event.count('class="event-value"') == presenters.EVENT_VALUES_SHOWN
    assert page(viewer, f"/endpoints/{endpoint.name}/").count("<tr id=") == presenters.LATEST_VALUES_SHOWN
    for url in ("/", "/events/"):
        assert f"and {5000 - presenters.EVENT_VALUES_SHOWN} more" in page(viewer, url), url


def test_listing_events_reads_only_the_values_their_rows_show(django_assert_num_queries) -> None:
    """Two queries for the values of a page of events, of at most EVENT_VALUES_SHOWN each, however many
    values the events have."""
    for device in range(3):
        readings = [Reading(Path(3200, i, 5500), DataType.BOOLEAN, True) for i in range(100 * (device + 1))]
        ingest(endpoint_name=f"urn:dev:wide-{device}", readings=readings)
    events = list(Event.objects.select_related("endpoint").order_by("pk"))
    with django_assert_num_queries(2):
        summaries = presenters.summarize_events(events)
    assert [len(summary.resources) for summary in summaries] == [presenters.EVENT_VALUES_SHOWN] * 3
    assert [summary.more for summary in summaries] == [100 - 12, 200 - 12, 300 - 12]
    assert [r["path"] for r in summaries[0].resources] == [f"/3200/{i}/5500" for i in range(12)]


def test_no_frame_exceeds_the_limit() -> None:
    publisher = Publisher()
    small, large = "<p>x</p>" * 10_000, "y" * (MAX_FRAME_BYTES // 2 + 1)
    frames = publisher._frames("g", [small, large, large, "z" * (MAX_FRAME_BYTES + 1), small])
    assert all(len(frame.encode()) <= MAX_FRAME_BYTES for frame in frames)
    sent = "".join(frames)
    assert sent.count("<template>") == 4  # each fragment in a template of its own, parsed apart by the browser
    assert sent.replace("<template>", "").replace("</template>", "") == small + large + large + small  # in order
    assert publisher.stats.oversize == 1

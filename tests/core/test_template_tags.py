"""The one way pages show a moment and a device's value (core.templatetags.fieldhub)."""

from __future__ import annotations

import datetime as dt

from core.templatetags.fieldhub import HOVER_CHARS, SHOWN_CHARS, value, when

MOMENT = dt.datetime(2026, 12, 2, 3, 25, 54, tzinfo=dt.UTC)


def test_a_moment_is_a_time_element_in_utc_until_the_browser_localises_it() -> None:
    assert when(MOMENT) == '<time datetime="2026-12-02T03:25:54+00:00">2026-12-02 03:25:54 UTC</time>'
    assert "data-relative" in when(MOMENT, relative=True)
    assert when(None) == "never"


def test_a_moment_in_another_zone_is_shown_in_utc() -> None:
    berlin = MOMENT.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert ">2026-12-02 03:25:54 UTC<" in when(berlin)


def test_a_short_value_is_shown_escaped_and_whole() -> None:
    assert value("<b>kitchen</b>") == "&lt;b&gt;kitchen&lt;/b&gt;"
    assert value(21.5) == "21.5"
    assert value(MOMENT) == when(MOMENT)


def test_a_long_value_is_cut_with_more_on_hover_and_all_a_link_away() -> None:
    long = "x" * 5000
    shown = value(long, full="/api/v1/endpoints/a/readings?path=/3/0/15")
    assert f">{'x' * SHOWN_CHARS}…</span>" in shown
    assert f'title="{"x" * HOVER_CHARS}"' in shown
    assert '<a class="full-value" href="/api/v1/endpoints/a/readings?path=/3/0/15">all 5,000 characters</a>' in shown
    assert len(shown) < 1000

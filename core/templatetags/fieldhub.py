"""Template helpers every page uses (loaded as builtins, core.settings TEMPLATES): one way to show a moment
and a value everywhere."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

SHOWN_CHARS = 80  # a longer text is cut where pages list it, so that the columns after it stay on screen
HOVER_CHARS = 400  # of which this much shows on hover; the whole of it is a link away


@register.filter
def split(text: str) -> list[str]:
    """``"a b c"|split``: a list for a template loop."""
    return text.split()


@register.simple_tag
def when(moment: dt.datetime | None, relative: bool = False) -> SafeString:
    """A moment: a <time> that fieldhub.js shows in the reader's locale and time zone (``relative``: "5 min
    ago", the moment itself on hover); without JavaScript, UTC."""
    if moment is None:
        return mark_safe("never")
    return format_html(
        '<time datetime="{}"{}>{}</time>',
        moment.isoformat(),
        mark_safe(" data-relative") if relative else "",
        moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    )


@register.simple_tag
def value(shown: Any, full: str = "") -> SafeString:
    """A device's value as the pages show it: a date as a <time>, a long text cut (more of it on hover, all of
    it at the URL ``full``), anything else as it is."""
    if isinstance(shown, dt.datetime):
        return when(shown)
    text = "" if shown is None else str(shown)
    if len(text) <= SHOWN_CHARS:
        return conditional_escape(text)
    link = format_html(' <a class="full-value" href="{}">all {} characters</a>', full, f"{len(text):,}") if full else ""
    return format_html('<span class="cut" title="{}">{}…</span>{}', text[:HOVER_CHARS], text[:SHOWN_CHARS], link)

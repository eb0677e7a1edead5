from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.urls import path, re_path

from realtime import consumers

if TYPE_CHECKING:
    from channels.consumer import _ASGIApplicationProtocol
    from channels.routing import URLRouter, _ExtendedURLPattern


def _route(route: str, consumer: _ASGIApplicationProtocol, *, regex: bool = False) -> _ExtendedURLPattern:
    """Django's ``path`` (or ``re_path``) for a consumer, as channels' URLRouter takes it."""
    pattern = (re_path if regex else path)(route, consumer)  # type: ignore[arg-type]  # django-stubs: views only
    return cast("_ExtendedURLPattern", pattern)


websocket_urlpatterns: list[_ExtendedURLPattern | URLRouter] = [
    _route("ws/dashboard/", consumers.DashboardConsumer.as_asgi()),
    _route("ws/firmware/", consumers.FirmwareConsumer.as_asgi()),
    _route("ws/operations/", consumers.OperationsConsumer.as_asgi()),
    _route("ws/events/", consumers.EventsConsumer.as_asgi()),
    _route("ws/rollouts/", consumers.RolloutsConsumer.as_asgi()),
    _route("ws/alarms/", consumers.AlarmsConsumer.as_asgi()),
    _route("ws/endpoints/<str:endpoint>/", consumers.EndpointConsumer.as_asgi()),
    _route(r"", consumers.NotFoundConsumer.as_asgi(), regex=True),  # last: every other path is closed with 4404
]

from django.urls import path, re_path

from realtime import consumers

websocket_urlpatterns = [
    path("ws/dashboard/", consumers.DashboardConsumer.as_asgi()),
    path("ws/firmware/", consumers.FirmwareConsumer.as_asgi()),
    path("ws/operations/", consumers.OperationsConsumer.as_asgi()),
    path("ws/events/", consumers.EventsConsumer.as_asgi()),
    path("ws/endpoints/<str:endpoint>/", consumers.EndpointConsumer.as_asgi()),
    re_path(r"", consumers.NotFoundConsumer.as_asgi()),  # last: every other path is closed with 4404
]

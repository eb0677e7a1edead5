"""The servlet's answers (§1.4): error texts as each version sends them, Jetty's error page, JSON bodies."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.simulator.double.protocol import HttpError, dumps


class BareText(web.Response):
    """A text response sent without Content-Type, as Leshan M15 sends its error texts."""


async def drop_content_type(request: web.Request, response: web.StreamResponse) -> None:
    """The app's ``on_response_prepare`` hook that makes a ``BareText`` bare."""
    if isinstance(response, BareText):
        response.headers.popall("Content-Type", None)


def jetty_page(status: int, message: str, uri: str) -> web.Response:
    """Jetty's ``sendError`` HTML page."""
    html = (
        '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=ISO-8859-1"/>\n'
        f"<title>Error {status} {message}</title>\n</head>\n<body><h2>HTTP ERROR {status} {message}</h2>\n"
        f"<table>\n<tr><th>URI:</th><td>{uri}</td></tr>\n<tr><th>STATUS:</th><td>{status}</td></tr>\n"
        f"<tr><th>MESSAGE:</th><td>{message}</td></tr>\n</table>\n</body>\n</html>\n"
    )
    return web.Response(status=status, text=html, content_type="text/html", charset="ISO-8859-1")


def method_not_allowed(request: web.Request) -> web.Response:
    return jetty_page(405, f"HTTP method {request.method} is not supported by this URL", request.path)


def json_response(data: Any) -> web.Response:
    return web.Response(body=dumps(data).encode(), content_type="application/json")


class Replies:
    """The error answers that differ between M15 and master."""

    def __init__(self, *, master: bool) -> None:
        self.master = master

    def text(self, status: int, text: str) -> web.Response:
        """An error text: no Content-Type in M15, ``text/plain; charset=UTF-8`` on master."""
        if self.master:
            return web.Response(status=status, text=text, content_type="text/plain", charset="UTF-8")
        return BareText(status=status, body=text.encode())

    def error(self, error: HttpError, request: web.Request) -> web.Response:
        if error.jetty_page:
            return jetty_page(error.status, error.text, request.path)
        return self.text(error.status, error.text)

    def not_registered(self, ep: str, capital: bool) -> web.Response:
        """M15 capitalises "No" on some routes only (§1.4); master always does."""
        first = "No" if capital or self.master else "no"
        return self.text(400, f"{first} registered client with id '{ep}'")

    def invalid_path(self, request: web.Request) -> web.Response:
        if self.master:
            return self.text(400, "Invalid path")
        return jetty_page(400, "Invalid path", request.path)

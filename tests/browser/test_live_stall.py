"""A page whose socket stays open but goes silent, or that the server tells to catch up, reloads by itself
(fieldhub.js, realtime.sockets). Playwright stands between the page and the server's socket to make it
silent."""

from __future__ import annotations

from typing import Any

from realtime.sockets import RESYNC
from tests.browser.conftest import log_in
from tests.browser.test_ui import WAIT, live


def between(page: Any) -> dict[str, Any]:
    """Route the page's sockets through the test: server messages pass while ``state["silent"]`` is false."""
    state: dict[str, Any] = {"silent": False, "routes": []}

    def handler(route: Any) -> None:
        server = route.connect_to_server()
        server.on_message(lambda message: None if state["silent"] else route.send(message))
        state["routes"].append(route)

    page.route_web_socket("**/ws/**", handler)
    return state


def test_a_page_whose_socket_goes_silent_reconnects_and_catches_up(browser, server: str, personas) -> None:
    page = log_in(browser, server, "vera")
    state = between(page)
    page.reload()
    live(page)
    state["routes"][-1].send("<!--fieldhub:heartbeat 0.5-->")  # as the server says it, with a shorter interval
    state["silent"] = True  # the socket stays open, nothing arrives: as when Redis lost the subscription
    page.evaluate("window.beforeTheStall = true")
    page.wait_for_function("() => window.beforeTheStall === undefined", timeout=WAIT)  # reloaded
    state["silent"] = False
    live(page)
    page.context.close()


def test_a_page_the_server_tells_to_resync_reloads(browser, server: str, personas) -> None:
    page = log_in(browser, server, "vera")
    state = between(page)
    page.reload()
    live(page)
    page.evaluate("window.beforeTheResync = true")
    state["routes"][-1].send(RESYNC)
    page.wait_for_function("() => window.beforeTheResync === undefined", timeout=WAIT)
    live(page)
    page.context.close()


def test_a_heartbeat_changes_nothing_on_the_page(browser, server: str, personas) -> None:
    page = log_in(browser, server, "vera")
    state = between(page)
    page.reload()
    live(page)
    before = page.locator("main").inner_html()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    state["routes"][-1].send("<!--fieldhub:heartbeat 5-->")
    page.wait_for_timeout(500)
    assert page.locator("main").inner_html() == before
    assert errors == []
    page.context.close()

"""What a test forces the next device request to an endpoint to meet (see ``LeshanDouble.script``).

Not to be confused with ``core.leshan.Outcome``, what Fieldhub's Leshan client makes of an answer: a
``ScriptedOutcome`` is the cause (a timeout, a CoAP error, a dropped connection...) the double plays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.simulator.double.protocol import coap_code_number


@dataclass(frozen=True, slots=True)
class ScriptedOutcome:
    """A forced outcome for the next device request to an endpoint."""

    kind: Literal["timeout", "coap_error", "http", "sleeping", "not_registered", "drop", "delay"]
    seconds: float | None = None
    status: int = 200
    text: str = ""
    code: str | int = ""
    message: str | None = None

    @classmethod
    def timeout(cls, after: float | None = None) -> ScriptedOutcome:
        """504 ``Request timeout`` after ``after`` seconds (default: the double's ``timeout_delay``)."""
        return cls("timeout", seconds=after)

    @classmethod
    def coap_error(cls, code: str | int, message: str | None = None) -> ScriptedOutcome:
        """The device answers this CoAP error: HTTP 200 with ``success:false``."""
        coap_code_number(code)
        return cls("coap_error", code=code, message=message)

    @classmethod
    def http(cls, status: int, text: str) -> ScriptedOutcome:
        return cls("http", status=status, text=text)

    @classmethod
    def sleeping(cls) -> ScriptedOutcome:
        return cls("sleeping")

    @classmethod
    def not_registered(cls) -> ScriptedOutcome:
        return cls("not_registered")

    @classmethod
    def drop(cls) -> ScriptedOutcome:
        """Close the connection without answering."""
        return cls("drop")

    @classmethod
    def delay(cls, seconds: float) -> ScriptedOutcome:
        """The device answers normally after ``seconds`` (504 if that reaches the request's timeout)."""
        return cls("delay", seconds=seconds)

"""Request and response shapes of the sites API and of the device bulk change. Out schemas read the models
(a site annotated with ``devices`` by ``selectors.site_list``)."""

from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import Field

from core.models import SiteRule
from core.roles import Role

MAX_BULK_NAMES = 10_000


class SiteIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)


class SitePatchIn(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)


# Read from a ``Site`` annotated with ``devices``.
class SiteOut(Schema):
    id: int
    name: str
    description: str
    created_at: dt.datetime
    devices: int = Field(description="how many devices are in the site")


# Read from a ``core.paging.OffsetPage``.
class SitePageOut(Schema):
    items: list[SiteOut]
    count: int
    limit: int
    offset: int


class SiteRefOut(Schema):
    id: int
    name: str


class SiteRuleIn(Schema):
    kind: SiteRule.Kind = Field(description="prefix (the name starts with text) or pattern (a shell glob)")
    text: str = Field(min_length=1, max_length=255, description="e.g. urn:imei:35 or urn:imei:35???0*")
    position: int = Field(default=0, ge=-(2**31), lt=2**31, description="rules are tried by position, then id")


class SiteUserIn(Schema):
    role: Role = Field(
        description="viewer, operator or admin of this site's devices (admin: and of its users and rules)"
    )


# Read from a ``SiteRole`` with its user.
class SiteUserOut(Schema):
    username: str = Field(alias="user.username")
    role: str
    since: dt.datetime = Field(alias="created_at")


# Read from a ``SiteRule``.
class SiteRuleOut(Schema):
    id: int
    site: int = Field(alias="site_id")
    kind: str
    text: str
    position: int
    created_at: dt.datetime


class BulkFilterIn(Schema):
    status: str | None = None
    name: str | None = None
    site: int | str | None = Field(default=None, description='a site id, or "none" for devices in no site')
    label: list[str] | str | None = Field(default=None, description="devices with all of these labels")


class BulkIn(Schema):
    """Which devices (``endpoints``: names, or ``filter``: as the device list filters) and what to change:
    ``site`` (an id, or null for none), ``labels`` (replace), ``add_labels``, ``remove_labels``."""

    endpoints: list[str] | None = Field(default=None, max_length=MAX_BULK_NAMES)
    filter: BulkFilterIn | None = None
    site: int | None = Field(default=None, description="a site id, or null to take the devices out of any")
    labels: list[str] | None = None
    add_labels: list[str] = Field(default_factory=list)
    remove_labels: list[str] = Field(default_factory=list)


# Read from ``services.Changed``.
class BulkOut(Schema):
    matched: int = Field(description="devices selected")
    changed: int = Field(description="devices of which the site or a label changed")

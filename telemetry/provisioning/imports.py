"""Onboarding a fleet from a CSV file, and the one export of a batch's credentials for the factory.

Columns (a header line first; ``endpoint`` and ``mode`` required, the others optional): ``endpoint``,
``mode`` (psk, rpk, x509, none), ``identity`` (PSK; the endpoint name when empty), ``key`` (PSK: hex, or
``generate`` / ``generate:256``; RPK: the device's EC public key, DER SubjectPublicKeyInfo in hex), ``site``
(a site's name; empty: a new device goes in the site of its assignment rule, if one matches, else in no
site; a known one keeps its own), ``labels`` (separated by ``;`` or spaces; empty: a known device keeps its
own).

Every row is checked before anything is stored: one bad row refuses the whole file, with every problem by
line. Then, in one transaction, the unknown devices are created pre-registered (known, never seen), sites and
labels set (core.sites.services), credentials stored sealed, and their pushes queued; the dispatcher pushes
them in the background (the batch's progress: ``selectors.batch_progress``).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, FieldhubError
from core.models import Endpoint, Site
from core.permissions import Principal, author_of, require_on, require_scope, scope_of
from core.provisioning import crypto, push
from core.provisioning.credentials import Spec, credential_spec
from core.provisioning.models import Credential, ImportBatch
from core.roles import Role
from core.sites.services import endpoints_labels_set, label_name_check, site_by_rules, site_rules_ordered
from telemetry.downlink import queue
from telemetry.provisioning.services import credential_fields

logger = logging.getLogger(__name__)

COLUMNS = ("endpoint", "mode", "identity", "key", "site", "labels")
REQUIRED = ("endpoint", "mode")
IMPORT_ROWS_MAX = 10_000
IMPORT_BYTES_MAX = 2 * 1024 * 1024  # under the 2.5 MiB `serve` lets a request body carry
ENDPOINT_MAX = 255
ERRORS_SHOWN = 200
_ENDPOINT = re.compile(r"[\x21-\x7e]+")
_LABEL_SPLIT = re.compile(r"[;,\s]+")


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "detail": self.detail}


class ImportRefused(FieldhubError):
    """The file was refused: every problem by line (the first ERRORS_SHOWN of them); nothing was stored."""

    def __init__(self, errors: list[RowError], *, rows: int) -> None:
        lines = len({error.line for error in errors})
        super().__init__(f"{lines} of {rows} rows refused; nothing was stored", path="file")
        self.errors = errors

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "errors": [error.as_dict() for error in self.errors[:ERRORS_SHOWN]]}


@dataclass
class Row:
    line: int
    endpoint: str
    spec: Spec
    site: Site | None
    labels: list[str] | None  # None: keep a known device's labels
    known: Endpoint | None = None


@dataclass(frozen=True)
class ImportResult:
    batch: ImportBatch
    created: int
    updated: int
    pushes: int


@dataclass
class _Checking:
    errors: list[RowError] = field(default_factory=list)

    def add(self, line: int, column: str, detail: str) -> None:
        self.errors.append(RowError(line, column, detail))


def _decode(data: bytes) -> str:
    if len(data) > IMPORT_BYTES_MAX:
        raise FieldhubError(f"the file is over {IMPORT_BYTES_MAX // (1024 * 1024)} MiB", path="file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FieldhubError(f"the file is not UTF-8 text (byte {exc.start})", path="file") from None


def _records(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise FieldhubError("the file is empty: a header line is needed (endpoint,mode,...)", path="file")
        columns = [name.strip().lower() for name in header]
        unknown = [name for name in columns if name not in COLUMNS]
        if unknown:
            raise FieldhubError(
                f"line 1: unknown column {unknown[0]!r}; the columns are {', '.join(COLUMNS)}", path="file"
            )
        missing = [name for name in REQUIRED if name not in columns]
        if missing:
            raise FieldhubError(f"line 1: the column {missing[0]!r} is missing", path="file")
        if len(set(columns)) != len(columns):
            raise FieldhubError("line 1: a column is named twice", path="file")
        records: list[tuple[int, dict[str, str]]] = []
        for values in reader:
            if not any(value.strip() for value in values):
                continue  # blank lines
            if len(records) >= IMPORT_ROWS_MAX:
                raise FieldhubError(f"the file has more than {IMPORT_ROWS_MAX} rows: split it", path="file")
            records.append((reader.line_num, _record(columns, values)))
    except csv.Error as exc:
        raise FieldhubError(f"line {reader.line_num}: not CSV: {exc}", path="file") from None
    if not records:
        raise FieldhubError("the file has no rows after its header", path="file")
    return columns, records


def _record(columns: list[str], values: list[str]) -> dict[str, str]:
    record = dict.fromkeys(COLUMNS, "")
    if len(values) > len(columns):
        record["__extra__"] = "x"
    for name, value in zip(columns, values, strict=False):
        record[name] = value.strip()
    return record


def _rows(actor: Principal, records: list[tuple[int, dict[str, str]]]) -> list[Row]:
    """Every record checked; ImportRefused with each problem by line."""
    checking = _Checking()
    sites = {site.name.lower(): site for site in Site.objects.all()}
    rules = site_rules_ordered()  # a new device without a site gets its rule's, as on its first post
    names = [record["endpoint"] for _, record in records]
    known = {endpoint.name: endpoint for endpoint in Endpoint.objects.filter(name__in=names)}
    admin = scope_of(actor, Role.ADMIN)
    seen: dict[str, int] = {}
    identities: dict[str, int] = {}
    rows = []
    for line, record in records:
        before = len(checking.errors)
        name = record["endpoint"]
        if "__extra__" in record:
            checking.add(line, "file", "more values than columns")
        if not name:
            checking.add(line, "endpoint", "an endpoint name is needed")
        elif len(name) > ENDPOINT_MAX or not _ENDPOINT.fullmatch(name):
            checking.add(line, "endpoint", f"an endpoint name is 1-{ENDPOINT_MAX} printable characters, no spaces")
        elif name in seen:
            checking.add(line, "endpoint", f"{name!r} is already on line {seen[name]}")
        else:
            seen[name] = line
        spec = _spec(checking, line, name, record)
        site = None
        endpoint = known.get(name)
        if record["site"]:
            site = sites.get(record["site"].lower())
            if site is None:
                checking.add(line, "site", f"no site named {record['site']!r}")
            elif not admin.includes(site.pk):
                checking.add(line, "site", f"putting devices in site {site.name!r} needs the admin role there")
        elif endpoint is None and (site := site_by_rules(name, rules)) is not None and not admin.includes(site.pk):
            checking.add(line, "site", f"its assignment rule puts it in site {site.name!r}, where you are not an admin")
        if endpoint is not None and not admin.includes(endpoint.site_id):
            checking.add(line, "endpoint", f"{name!r} is a device of a site you are not admin of")
        if endpoint is None and site is None and not admin.everywhere:
            checking.add(line, "site", "a new device in no site needs the global admin role: name its site")
        labels = None
        if record["labels"]:
            labels = []
            for label in filter(None, _LABEL_SPLIT.split(record["labels"])):
                try:
                    labels.append(label_name_check(label))
                except FieldhubError as exc:
                    checking.add(line, "labels", exc.detail)
        if spec is not None and spec.mode == "psk":
            if spec.identity in identities:
                checking.add(
                    line, "identity", f"PSK identity {spec.identity!r} is already on line {identities[spec.identity]}"
                )
            identities.setdefault(spec.identity, line)
        if spec is not None and len(checking.errors) == before:
            rows.append(Row(line, name, spec, site, labels, endpoint))
    _identities_free(checking, actor, rows, set(seen))
    if checking.errors:
        raise ImportRefused(sorted(checking.errors, key=lambda e: e.line), rows=len(records))
    return rows


def _spec(checking: _Checking, line: int, name: str, record: dict[str, str]) -> Spec | None:
    mode = record["mode"].lower()
    key_field = "public_key" if mode == "rpk" else "key"
    try:
        return credential_spec(
            endpoint=name or "-",
            mode=mode,
            identity=record["identity"],
            **{key_field: record["key"]},
        )
    except FieldhubError as exc:
        column = {"public_key": "key", "certificate": "key"}.get(exc.path or "", exc.path or "file")
        checking.add(line, column, exc.detail)
        return None


def _identities_free(checking: _Checking, actor: Principal, rows: list[Row], in_file: set[str]) -> None:
    """A PSK identity held by a device not in the file is refused (by line, naming the device if visible)."""
    wanted = {row.spec.identity: row.line for row in rows if row.spec.mode == "psk"}
    if not wanted:
        return
    visible = scope_of(actor, Role.VIEWER)
    held = Credential.objects.filter(mode="psk", identity__in=list(wanted)).select_related("endpoint")
    for credential in held:
        if credential.endpoint.name in in_file:
            continue  # its own row replaces it
        who = repr(credential.endpoint.name) if visible.includes(credential.endpoint.site_id) else "of another site"
        checking.add(
            wanted[credential.identity], "identity", f"PSK identity {credential.identity!r} is used by device {who}"
        )


def fleet_import(*, actor: Principal, data: bytes, filename: str = "") -> ImportResult:
    """Check every row, then store everything and queue the pushes (see the module)."""
    require_scope(actor, Role.ADMIN)
    _, records = _records(_decode(data))
    rows = _rows(actor, records)
    if any(row.spec.mode == "psk" for row in rows) and not crypto.key_available():
        raise crypto.CredentialsKeyMissing()
    with transaction.atomic():
        batch = ImportBatch.objects.create(created_by=author_of(actor), filename=filename[:255], devices=len(rows))
        new = [Endpoint(name=row.endpoint, site=row.site) for row in rows if row.known is None]
        Endpoint.objects.bulk_create(new, batch_size=1000)
        endpoints = {e.name: e for e in Endpoint.objects.filter(name__in=[row.endpoint for row in rows])}
        _sites_and_labels(actor, rows, endpoints)
        previous = dict(
            Credential.objects.filter(endpoint__in=list(endpoints.values())).values_list("endpoint_id", "mode")
        )
        Credential.objects.filter(endpoint__in=list(endpoints.values())).delete()
        author = author_of(actor)
        credentials = []
        for row in rows:
            endpoint = endpoints[row.endpoint]
            fields = credential_fields(row.spec, endpoint_id=endpoint.pk)
            credentials.append(Credential(endpoint=endpoint, batch=batch, updated_by=author, **fields))
        Credential.objects.bulk_create(credentials, batch_size=1000)
        to_push = [endpoints[row.endpoint] for row in rows if row.spec.mode != "none"]
        pushes = queue.security_push_enqueue_many(endpoints=to_push, author=actor)
        for row in rows:
            endpoint = endpoints[row.endpoint]
            if row.spec.mode == "none" and previous.get(endpoint.pk, "none") != "none":
                queue.security_push_enqueue(endpoint=endpoint, kind="SECURITY_DELETE", author=actor)
                pushes += 1
        ImportBatch.objects.filter(pk=batch.pk).update(created_devices=len(new))
        batch.created_devices = len(new)
    logger.info(
        "import %s: %d devices (%d new), %d pushes queued, by %s",
        batch.pk,
        len(rows),
        len(new),
        pushes,
        getattr(actor, "username", actor),
    )
    return ImportResult(batch=batch, created=len(new), updated=len(rows) - len(new), pushes=pushes)


def _sites_and_labels(actor: Principal, rows: list[Row], endpoints: dict[str, Endpoint]) -> None:
    """Known devices moved to the site their row names (new ones were created in it); labels replaced where
    a row names some. Through core.sites.services, grouped by site and by label set."""
    from core.sites.services import endpoints_site_set

    moves: dict[int, list[int]] = {}
    for row in rows:
        if row.known is not None and row.site is not None and row.known.site_id != row.site.pk:
            moves.setdefault(row.site.pk, []).append(endpoints[row.endpoint].pk)
    sites = {site.pk: site for site in Site.objects.filter(pk__in=list(moves))}
    for site_id, ids in moves.items():
        endpoints_site_set(actor=actor, endpoints=Endpoint.objects.filter(pk__in=ids), site=sites[site_id])
    by_labels: dict[tuple[str, ...], list[int]] = {}
    for row in rows:
        if row.labels is not None:
            by_labels.setdefault(tuple(sorted(set(row.labels))), []).append(endpoints[row.endpoint].pk)
    for labels, ids in by_labels.items():
        endpoints_labels_set(actor=actor, endpoints=Endpoint.objects.filter(pk__in=ids), labels=list(labels))


EXPORT_COLUMNS = ("endpoint", "mode", "identity", "key", "public_key")


def batch_export(*, actor: Principal, batch: ImportBatch) -> str:
    """The batch's credentials as CSV, keys included, for the factory: once (409 after), by an admin of
    every site its devices are in."""
    credentials = list(batch.credentials.select_related("endpoint").order_by("endpoint__name"))
    for site_id in sorted({c.endpoint.site_id or 0 for c in credentials}):
        require_on(actor, Role.ADMIN, site_id or None, what="exporting this batch's credentials")
    if not credentials:
        require_on(actor, Role.ADMIN, None, what="exporting this batch's credentials")
    with transaction.atomic():
        taken = ImportBatch.objects.filter(pk=batch.pk, exported_at__isnull=True).update(
            exported_at=timezone.now(), exported_by=author_of(actor)
        )
        if not taken:
            batch.refresh_from_db()
            when = f" on {batch.exported_at:%Y-%m-%d %H:%M} UTC" if batch.exported_at else ""
            raise Conflict(f"import {batch.pk}'s credentials were already exported{when}: they are shown once")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for credential in credentials:
            key = push.key_unseal(credential)
            writer.writerow(
                [
                    credential.endpoint.name,
                    credential.mode,
                    credential.identity,
                    key.hex() if key is not None else "",
                    credential.public_key,
                ]
            )
    logger.info("import %s: credentials exported by %s", batch.pk, getattr(actor, "username", actor))
    return out.getvalue()

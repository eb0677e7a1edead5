"""What site scoping costs on the reads (issue 17): the same requests as a global viewer and as a viewer of
one site, interleaved, over HTTP against a real API server process.

    .venv/bin/python bench/site_scope.py                      # PostgreSQL at 127.0.0.1:5432
    .venv/bin/python bench/site_scope.py --readings 50000     # a smaller run

Loads ``bench/query.py``'s fleet (``--readings`` temperatures of one big device, ``--devices`` devices with
20 resources each) into a fresh PostgreSQL database and spreads the devices over ``--sites`` sites (the big
device in the first). A global viewer's requests take the code path there was before sites: no site filter
and no site-role lookup (``core.permissions.scope_of`` answers from the global role). A viewer of the first
site pays the lookup of their site roles and a ``site_id IN (...)`` on every read. Each request is sent
``--repeat`` times as each user, alternately, to one granian WSGI worker; the script prints p50/p99 per
user and the ratio of the medians (site / global).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import percentile, running_server
from bench.query import BIG, loaded, timed_get


def spread(sites: int) -> tuple[str, str]:
    """Put the devices in ``sites`` sites (the big one in the first); a token for a global viewer and one for
    a viewer of the first site."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection

    from core.models import Endpoint, Site, SiteRole
    from core.permissions import SYSTEM
    from core.services import token_create

    created = [Site.objects.create(name=f"site {n}") for n in range(sites)]
    ids = list(Endpoint.objects.exclude(name=BIG).order_by("pk").values_list("pk", flat=True))
    for n, site in enumerate(created):
        Endpoint.objects.filter(pk__in=ids[n::sites]).update(site=site)
    Endpoint.objects.filter(name=BIG).update(site=created[0])
    users = get_user_model().objects
    everywhere = users.create_user(username="global-viewer", password="x" * 20)
    everywhere.groups.add(Group.objects.get(name="viewer"))
    local = users.create_user(username="site-viewer", password="x" * 20)
    SiteRole.objects.create(user=local, site=created[0], role="viewer")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    tokens = (token_create(actor=SYSTEM, user=user, name="bench")[1] for user in (everywhere, local))
    global_token, site_token = tokens
    connection.close()
    return global_token, site_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=60)
    args = parser.parse_args()

    with loaded(args.postgres_url, args.readings, args.devices) as env:
        global_token, site_token = spread(args.sites)
        with running_server("granian", env=env, workers=1) as url:
            checks = {
                "endpoint list, first page of 50": f"{url}/api/v1/endpoints?limit=50",
                "endpoint list, page 10 by name": f"{url}/api/v1/endpoints?sort=name&limit=50&offset=450",
                "endpoint list, filtered by state": f"{url}/api/v1/endpoints?status=offline&limit=50",
                "device detail (20 resources)": f"{url}/api/v1/endpoints/urn:bench:dev00010",
                "series, 500 buckets over all": f"{url}/api/v1/endpoints/{BIG}/series?path=/3303/0/5700"
                "&since=2020-01-01T00:00:00Z&until=2100-01-01T00:00:00Z&buckets=500",
                "readings, newest 100": f"{url}/api/v1/endpoints/{BIG}/readings?path=/3303/0/5700&limit=100",
                "events, newest 50": f"{url}/api/v1/events?limit=50",
            }
            print(
                f"# {args.readings} readings on one device, {args.devices} devices in {args.sites} sites; "
                f"{args.repeat} requests each per user, alternating"
            )
            print(f"{'request':<34} {'global p50':>10} {'p99':>7} {'site p50':>9} {'p99':>7} {'site/global':>11}")
            for label, target in checks.items():
                timed_get(target, global_token)
                timed_get(target, site_token)
                times: dict[str, list[float]] = {"global": [], "site": []}
                for _ in range(args.repeat):
                    times["global"].append(timed_get(target, global_token)[0])
                    times["site"].append(timed_get(target, site_token)[0])
                g50, g99 = (percentile(times["global"], p) * 1000 for p in (50, 99))
                s50, s99 = (percentile(times["site"], p) * 1000 for p in (50, 99))
                print(f"{label:<34} {g50:>10.1f} {g99:>7.1f} {s50:>9.1f} {s99:>7.1f} {s50 / g50:>11.2f}")


if __name__ == "__main__":
    main()

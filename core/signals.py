"""Signals core sends for the apps that build on it (core depends on none of them).

``user_access_changed(user_id=...)`` is sent after the commit of every change to what a user may do: the
users page's deactivation, role and password changes, a role given or removed on a site
(``core.services.user_set_site_role``), a password changed on the password page. realtime
closes or re-checks that user's open sockets on it (realtime.apps).

``endpoints_retagged(endpoint_ids=[...], sites=[...], moved=[...])`` is sent after the commit of a change to
devices' site or labels (``core.sites.services.endpoints_change``; ``sites``: those whose device counts a
move changed, None for no site; ``moved``: the devices whose site changed): telemetry pushes their
dashboard rows, device pages and counts (telemetry.apps).
"""

from django.dispatch import Signal

user_access_changed = Signal()
endpoints_retagged = Signal()

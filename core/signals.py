"""Signals core sends for the apps that build on it (core depends on none of them).

``user_access_changed(user_id=...)`` is sent after the commit of every change to what a user may do: the
users page's deactivation, role and password changes, a role given or removed on a site
(``core.services.user_set_site_role``), a password changed on the password page. realtime
closes or re-checks that user's open sockets on it (realtime.apps).
"""

from django.dispatch import Signal

user_access_changed = Signal()

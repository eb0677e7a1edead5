"""A fleet of simulated LwM2M devices, and the Leshan server in front of them.

Each ``SimulatedDevice`` is a ``SimulatedClient`` of the Leshan double (``core.simulator.double``) given
behaviour: it registers, reports device information (object 3) and three environment sensors with
realistic curves, updates its registration before its lifetime ends, sleeps between reports in queue mode,
sometimes drops off the network and comes back, answers writes and executes (and reports what a write
changed), and runs the Firmware Update object (5): it downloads the image from the Package URI for real,
then DOWNLOADED, UPDATING, a reboot and the new version — or fails with a configurable probability and
result code.

``Fleet`` runs the devices and the double on one asyncio loop. The double serves Leshan's REST API (and
event stream) for them, so Fieldhub's commands and firmware updates reach them exactly as they would reach
a Leshan server (point ``LESHAN_URL`` at it). What the devices say reaches Fieldhub one of two ways
(``via``): as the flownexus bridge's POSTs to ``/leshan_api/resource/…`` (the default), or as Leshan's
server-sent events, for a Fieldhub that follows the stream (``LESHAN_EVENTS=1``).

Every value and decision comes from ``seed``: a device's curves, battery, which updates fail, when it drops
off; only the interleaving of devices depends on timing.

The modules: ``config`` (``FleetConfig``, the seed's ``chance``, ``Stats``, Firmware Update codes),
``device`` (``SimulatedDevice``), ``climate`` (the sensors' curves), ``uplinks`` (bridge posts or events)
and ``runner`` (``Fleet``: the devices, the double and the HTTP session on one loop).
"""

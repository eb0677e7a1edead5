"""A test double of the Eclipse Leshan demo server: its REST API and its event stream, over real HTTP.

It follows ``../shared/reference/leshan-rest-contract.md`` (routes §1.2, response bodies §1.3, errors §1.4,
node JSON §1.5 and §1.6, queue mode §2, registration JSON §3, server-sent events §4, the security store §7).

Behaviour is Leshan **2.0.0-M15** by default: the version flownexus ships. ``LeshanVersion.MASTER`` switches
to the behaviour of master (>= 2.0.0-M17): a request to a sleeping queue-mode client is stored (only the
last one per registration), answered ``{"ep","path","requestId","delayed":true}``, sent when the client
wakes and reported by a ``REQUEST_RESPONSE`` event; error texts are ``text/plain``, "No registered client"
is always capitalised, "Invalid path" is plain text and a bad attribute is a 400 ``Invalid attributes``.

The devices are ``core.simulator.client.SimulatedClient`` objects holding their resource values; the device
simulator subclasses it to give them behaviour. Tests script outcomes (timeouts, CoAP errors, dropped
connections...) with ``LeshanDouble.script`` and ``ScriptedOutcome``, and drive registrations and
notifications with the helper methods, which emit the events Leshan would emit, in its order.

Not simulated: COAPLOG events, DTLS, registration expiry and the 93 s awake timer (call ``sleep``).

The modules, from the wire inwards:

- ``server``: ``LeshanDouble``, the assembly: the aiohttp app, start/stop, and the thread-safe helpers;
- ``routes``: ``/api/clients`` dispatched by method and path, one handler per LwM2M operation;
- ``exchange``: the common path of every request to a device (scripted outcome, sleeping, timeout, answer);
- ``bodies``: what a request carries (paths, node bodies, attributes, ``timeout``), checked as Leshan does;
- ``replies``: the servlet's error answers (§1.4) and JSON responses;
- ``events``: the server-sent event stream (§4);
- ``security``: ``/api/security/*``, the store of device credentials and the server's identity (§7);
- ``state``: the registry of clients, scripted outcomes and delayed requests, and the state changes that
  emit Leshan's events;
- ``scripts``: ``ScriptedOutcome``, what a test forces the next request to an endpoint to meet;
- ``nodes``: node JSON, encoded (reads) and decoded (writes);
- ``protocol``: versions, CoAP codes, the operations and Leshan's response JSON.
"""

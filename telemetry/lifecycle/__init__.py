"""A device's lifecycle: registered, online, asleep, lapsed.

``state`` holds the rules (what a post, a registration or Leshan's answer says of a device) and the one
writer of a device's state outside a post; ``services`` the flows that change it: Leshan's registrations and
presence events, the resynchronisation after the event stream was down, and the sweep that decides from time
alone (``endpoints_expire``). A post's own state (seen now, online, awake) is written by the ingest's one
statement, from ``state.reported``.
"""

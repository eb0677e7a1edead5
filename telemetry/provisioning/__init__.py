"""Onboarding: device credentials set and removed, pushed into Leshan's security store through the command
queue (``telemetry.downlink``), fleets imported from CSV, the sync with Leshan's store; the API and pages.
The tables, the sealing and the credential checks are core's (``core.provisioning``)."""

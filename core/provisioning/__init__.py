"""Device provisioning: each device's credentials (PSK, RPK, X.509 or none), kept encrypted and pushed into
Leshan's security store (contract §7) through the downlink queue; fleets onboarded from a CSV file; a sync
that re-pushes what Leshan lost."""

"""Device credentials as the registry keeps them: the tables (``Credential``, ``ImportBatch``, ``SyncReport``),
the sealing of PSK keys with CREDENTIALS_KEY, the checks of what a client gives for each mode, the
SecurityInfo Leshan is sent (contract §7) and the system check that wants the key. Setting, pushing,
importing and syncing them is telemetry's (``telemetry.provisioning``), on its command queue."""

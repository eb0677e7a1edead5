"""Writes of the firmware app, one module per subject; the names below are the package's interface
(``from firmware import services``):

- ``images``: upload, delete, and the Package URI devices download an image from;
- ``updates``: one device's update, its cancel, and the object 5 state machine the ingest drives
  (``firmware_reported``, a listener registered in ``telemetry.hooks``), with the phase timeouts;
- ``campaigns``: a campaign (a firmware rollout: ``telemetry.rollouts`` runs its waves) made from its form
  and API, and steered;
- ``waves``: the waves as an operator types them, and how many devices each one updates.
"""

from firmware.services.campaigns import campaign_abort, campaign_create, campaign_pause, campaign_resume
from firmware.services.images import VERSION_RE, firmware_delete, firmware_upload, package_uri
from firmware.services.updates import (
    FAILURE_RESULTS,
    PROGRESS,
    firmware_reported,
    firmware_update_cancel,
    firmware_update_start,
    firmware_updates_expire,
    firmware_updates_start_wave,
)
from firmware.services.waves import campaign_waves_parse, wave_sizes

__all__ = [
    "FAILURE_RESULTS",
    "PROGRESS",
    "VERSION_RE",
    "campaign_abort",
    "campaign_create",
    "campaign_pause",
    "campaign_resume",
    "campaign_waves_parse",
    "firmware_delete",
    "firmware_reported",
    "firmware_update_cancel",
    "firmware_update_start",
    "firmware_updates_expire",
    "firmware_updates_start_wave",
    "firmware_upload",
    "package_uri",
    "wave_sizes",
]

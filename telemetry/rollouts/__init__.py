"""Rollouts: one operation (or a firmware update) sent to a selection of devices in waves: one model
(``Rollout``, ``RolloutDevice``), one wave engine.

``services`` (create, pause, resume, abort, advance as operations or firmware updates finish: the one wave
engine), ``selectors`` (the selection, lists, progress, waves, devices), ``kinds`` (the adapters of kinds
other apps run: firmware, registered by the firmware app), ``api`` (``/api/v1/rollouts``), ``presenters``,
``partials``, ``announce``, ``views``."""

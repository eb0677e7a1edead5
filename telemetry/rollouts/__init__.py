"""Rollouts: one operation sent to a selection of devices in waves, through the durable command queue.

``services`` (create, pause, resume, abort, advance as operations finish), ``selectors`` (the selection,
lists, progress, waves, devices), ``kinds`` (other kinds of rollout: firmware campaigns, registered by the
firmware app), ``api`` (``/api/v1/rollouts``), ``presenters``, ``partials``, ``announce``, ``views``."""

"""The downlink: operations for devices, queued in the database (``queue``, checked by ``requests``), sent
through Leshan by the dispatcher (``dispatcher``) when their devices are reachable (``wakeup``)."""

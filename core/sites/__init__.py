"""Sites, labels and assignment rules: where devices belong and how they are tagged (issue 17's first slice).

``services`` writes (sites and rules: admin; a device's site and labels: operator), ``selectors`` reads,
``api`` is the ``/api/v1/sites`` router and ``schemas`` its In/Out schemas. The bulk endpoint
(``POST /api/v1/endpoints/bulk``) is telemetry's query router, since its filter is the device list's.
"""

"""The alarm engine's guard functions on PostgreSQL (telemetry.alarms.evaluate.readings_guard): PL/pgSQL, so
that each connection plans their queries once instead of the ingest's statement planning them on every
post. Nothing on other databases."""

from django.db import migrations

FUNCTIONS = """
CREATE OR REPLACE FUNCTION fieldhub_alarm_pending(p_endpoint bigint, p_rules bigint[]) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM telemetry_alarm
        WHERE endpoint_id = p_endpoint AND rule_id = ANY(p_rules) AND state IN ('active', 'acknowledged')
    ) OR EXISTS (SELECT 1 FROM telemetry_alarmwatch WHERE endpoint_id = p_endpoint AND rule_id = ANY(p_rules));
END $$;
-- The device's label names in code point order (as Python sorts them).
CREATE OR REPLACE FUNCTION fieldhub_endpoint_labels(p_endpoint bigint) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN ARRAY(
        SELECT l.name::text FROM core_endpointlabel el JOIN core_label l ON l.id = el.label_id
        WHERE el.endpoint_id = p_endpoint ORDER BY l.name COLLATE "C"
    );
END $$;
"""

DROP = """
DROP FUNCTION IF EXISTS fieldhub_alarm_pending(bigint, bigint[]);
DROP FUNCTION IF EXISTS fieldhub_endpoint_labels(bigint);
"""


def create(apps, schema_editor):  # noqa: ANN001, ARG001
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTIONS)


def drop(apps, schema_editor):  # noqa: ANN001, ARG001
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0009_provisioning_kind"), ("core", "0006_site_roles")]

    operations = [migrations.RunPython(create, drop)]

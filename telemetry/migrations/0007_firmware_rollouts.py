# Firmware campaigns become rollouts of kind FIRMWARE: the fields they need (their rows are copied over by
# 0006, in a migration of its own: PostgreSQL creates this one's indexes at its end, which it refuses after
# rows were written in the same transaction).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0006_site_roles'),
        ('firmware', '0003_campaign_site'),
        ('telemetry', '0006_notifications_more'),
    ]

    operations = [
        migrations.AddField(
            model_name='rollout',
            name='firmware',
            field=models.ForeignKey(blank=True, help_text="a firmware rollout's image", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='rollouts', to='firmware.firmware'),
        ),
        migrations.AddField(
            model_name='rollout',
            name='number',
            field=models.PositiveIntegerField(blank=True, help_text='a firmware rollout\'s number: its id "fw-<number>"', null=True, unique=True),
        ),
        migrations.AddField(
            model_name='rollout',
            name='sites',
            field=models.JSONField(default=list, help_text='ids of the sites its devices were in when it was made (null: no site)'),
        ),
        migrations.AddField(
            model_name='rollout',
            name='site',
            field=models.ForeignKey(blank=True, help_text='the one site of all its devices when it was made (None: several sites, or none); a firmware rollout is seen by the users of this site only', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='core.site'),
        ),
        migrations.AddField(
            model_name='rolloutdevice',
            name='update',
            field=models.OneToOneField(blank=True, help_text="a firmware rollout's: the device's update (whose status is the device's)", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='rollout_device', to='firmware.firmwareupdate'),
        ),
        migrations.AlterField(
            model_name='rollout',
            name='kind',
            field=models.CharField(choices=[('WRITE', 'write'), ('EXECUTE', 'execute'), ('READ', 'read'), ('OBSERVE', 'observe'), ('OBSERVE_CANCEL', 'cancel observation'), ('FIRMWARE', 'firmware update')], max_length=16),
        ),
        migrations.AlterField(
            model_name='rollout',
            name='path',
            field=models.CharField(blank=True, help_text='LwM2M path, e.g. /1/0/1 (none for firmware)', max_length=32),
        ),
    ]

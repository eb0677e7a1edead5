# Campaigns are firmware rollouts now: telemetry 0006 copied their rows into Rollout / RolloutDevice; their
# tables, and the updates' link to them (now RolloutDevice.update), go.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('firmware', '0003_campaign_site'),
        ('telemetry', '0008_campaigns_into_rollouts'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='firmwareupdate',
            name='campaign',
        ),
        migrations.DeleteModel(
            name='CampaignDevice',
        ),
        migrations.DeleteModel(
            name='Campaign',
        ),
    ]

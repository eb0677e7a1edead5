# Firmware campaigns become rollouts of kind FIRMWARE: their rows copied over (a campaign's id is its
# rollout's number, so "fw-<id>" and /firmware/campaigns/<id>/ still name it, with its site, status, waves,
# current wave, reason, timestamps, devices, skips and links to their updates); firmware 0004 then removes
# the campaign tables. Reversible: the way back copies them into the campaign tables again.

from django.db import migrations


def campaigns_into_rollouts(apps, schema_editor):
    Campaign = apps.get_model("firmware", "Campaign")
    CampaignDevice = apps.get_model("firmware", "CampaignDevice")
    Rollout = apps.get_model("telemetry", "Rollout")
    RolloutDevice = apps.get_model("telemetry", "RolloutDevice")
    for campaign in Campaign.objects.order_by("id").iterator():
        members = list(CampaignDevice.objects.filter(campaign_id=campaign.pk).values_list(
            "endpoint_id", "endpoint__site_id", "wave", "update_id", "skipped"
        ))
        sites = {site for _, site, *_ in members}
        if campaign.site_id is not None:
            sites.add(campaign.site_id)
        rollout = Rollout.objects.create(
            name=campaign.name,
            kind="FIRMWARE",
            path="",
            request={},
            payload=None,
            selection={"endpoints": len(members)},
            status=campaign.status,
            waves=campaign.waves,
            current_wave=campaign.current_wave,
            max_failure_rate=campaign.max_failure_rate,
            reason=campaign.reason,
            created_by_id=campaign.created_by_id,
            finished_at=campaign.finished_at,
            firmware_id=campaign.firmware_id,
            number=campaign.pk,
            sites=sorted(sites, key=lambda site: (site is None, site or 0)),
            site_id=campaign.site_id,
        )
        # created_at / updated_at are set on create (auto_now): the campaign's, kept.
        Rollout.objects.filter(pk=rollout.pk).update(created_at=campaign.created_at, updated_at=campaign.updated_at)
        RolloutDevice.objects.bulk_create(
            [
                RolloutDevice(rollout_id=rollout.pk, endpoint_id=endpoint, wave=wave, update_id=update, skipped=skipped)
                for endpoint, _site, wave, update, skipped in members
            ],
            batch_size=1000,
        )


def rollouts_into_campaigns(apps, schema_editor):
    Campaign = apps.get_model("firmware", "Campaign")
    CampaignDevice = apps.get_model("firmware", "CampaignDevice")
    FirmwareUpdate = apps.get_model("firmware", "FirmwareUpdate")
    Rollout = apps.get_model("telemetry", "Rollout")
    RolloutDevice = apps.get_model("telemetry", "RolloutDevice")
    for rollout in Rollout.objects.filter(kind="FIRMWARE").order_by("number").iterator():
        Campaign.objects.create(
            id=rollout.number,
            name=rollout.name,
            firmware_id=rollout.firmware_id,
            status=rollout.status,
            waves=rollout.waves,
            current_wave=rollout.current_wave,
            max_failure_rate=rollout.max_failure_rate,
            reason=rollout.reason,
            site_id=rollout.site_id,
            created_by_id=rollout.created_by_id,
            finished_at=rollout.finished_at,
        )
        Campaign.objects.filter(pk=rollout.number).update(created_at=rollout.created_at, updated_at=rollout.updated_at)
        members = RolloutDevice.objects.filter(rollout_id=rollout.pk)
        CampaignDevice.objects.bulk_create(
            [
                CampaignDevice(
                    campaign_id=rollout.number, endpoint_id=m.endpoint_id, wave=m.wave, update_id=m.update_id,
                    skipped=m.skipped,
                )
                for m in members
            ]
        )
        FirmwareUpdate.objects.filter(pk__in=members.exclude(update_id=None).values("update_id")).update(
            campaign_id=rollout.number
        )
        rollout.delete()


class Migration(migrations.Migration):

    dependencies = [
        ('firmware', '0003_campaign_site'),
        ('telemetry', '0007_firmware_rollouts'),
    ]

    operations = [
        migrations.RunPython(campaigns_into_rollouts, rollouts_into_campaigns),
    ]

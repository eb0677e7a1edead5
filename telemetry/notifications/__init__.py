"""Notifications of alarm changes: channels (webhook, e-mail), which alarms go to each, and a durable
outbox written in the alarm change's transaction and delivered by the workers."""

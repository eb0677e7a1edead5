"""Told of every alarm change inside its transaction (the notification outbox writes its rows there):
``alarm_changed.send(sender=Alarm, alarm=alarm, change=change)`` with the ``AlarmChange`` just stored."""

from django.dispatch import Signal

alarm_changed = Signal()

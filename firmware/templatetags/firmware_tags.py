from django import template

from firmware.fragments import STEP

register = template.Library()


@register.filter
def progress_of(status: str) -> int:
    """Percent of an update's way done, from its status."""
    return 100 * STEP.get(status, 0) // 4

from django import template

register = template.Library()


@register.filter
def split(text: str) -> list[str]:
    """``"a b c"|split``: a list for a template loop."""
    return text.split()

"""Waves of a rollout or a firmware campaign: how an operator types them, and how many devices each one
reaches (one rule for both)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from core.errors import FieldhubError

WAVE_ITEM_SPLIT = re.compile(r"\s*,\s*|\s+")


def campaign_waves_parse(*, text: str) -> list[int]:
    """The waves as an operator types them, "1, 10, 100": whole numbers separated by commas (or spaces). An
    empty item ("1,,100", a comma at either end) is refused, not dropped."""
    text = (text or "").strip()
    if not text:
        raise FieldhubError("give the waves, e.g. 1, 10, 100", path="waves")
    items = WAVE_ITEM_SPLIT.split(text)
    for number, item in enumerate(items, 1):
        if not item:
            raise FieldhubError(f"item {number} of {text!r} is empty", path="waves")
        if not re.fullmatch(r"[0-9]+", item):
            raise FieldhubError(f"waves are whole numbers separated by commas; {item[:20]!r} is not one", path="waves")
        if len(item) > 9:
            raise FieldhubError(f"{item[:12]}… is too large for a wave", path="waves")
    return [int(item) for item in items]


def wave_sizes(count: int, waves: Sequence[int], unit: str, *, what: str = "campaign") -> list[int]:
    """How many of ``count`` devices each wave updates. The rules, for the page and the API alike:

    - percentages (cumulative): each 1 to 100, strictly rising, the last 100; each wave must come to at
      least one device more than the one before (1 % and 10 % of 5 devices are both 1: refused);
    - device counts (per wave): each 1 or more, except one 0 ("the rest"), only last; without a 0 they add
      up to ``count`` exactly, with one to fewer (so the rest is not empty);
    - never more waves than devices.

    ``what`` names the whole in messages ("campaign", "rollout").

    A specification that would leave a wave empty, or quietly merge or add one, is refused with a message
    naming the problem."""
    if unit not in ("percent", "devices"):
        raise FieldhubError('unit is "percent" or "devices"', path="unit")
    if not waves or any(type(wave) is not int for wave in waves):
        raise FieldhubError("waves is a list of whole numbers, e.g. [1, 10, 100]", path="waves")
    devices = f"{count} device{'' if count == 1 else 's'} to update"
    if len(waves) > count:
        raise FieldhubError(f"{len(waves)} waves for {devices}: each wave needs a device at least", path="waves")
    if unit == "percent":
        return _percent_waves(count, waves)
    return _device_count_waves(count, waves, devices, what)


def _percent_waves(count: int, waves: Sequence[int]) -> list[int]:
    for percent in waves:
        if not 1 <= percent <= 100:
            raise FieldhubError(f"a wave is 1 to 100 % of the devices, not {percent}", path="waves")
    for before, after in itertools.pairwise(waves):
        if after <= before:
            raise FieldhubError(f"percentages are cumulative and must rise: {after} after {before}", path="waves")
    if waves[-1] != 100:
        raise FieldhubError(
            f"the last wave must reach 100 %, not {waves[-1]} %: percentages are cumulative, e.g. 1, 10, 100",
            path="waves",
        )
    sizes, previous = [], 0
    for number, percent in enumerate(waves, 1):
        total = -(-count * percent // 100)  # rounded up: 1 % of 12 devices is one device
        if total == previous:
            raise FieldhubError(
                f"wave {number} ({percent} %) would be empty: {waves[number - 2]} % and {percent} % of {count} "
                f"devices both come to {total}; use fewer waves or larger steps",
                path="waves",
            )
        sizes.append(total - previous)
        previous = total
    return sizes


def _device_count_waves(count: int, waves: Sequence[int], devices: str, what: str) -> list[int]:
    for size in waves:
        if size < 0:
            raise FieldhubError(f"a wave has 1 device or more (or 0, last, for the rest), not {size}", path="waves")
    if 0 in waves[:-1]:
        raise FieldhubError("0 (the rest) can only be the last wave", path="waves")
    rest = waves[-1] == 0
    sizes = list(waves[:-1] if rest else waves)
    total = sum(sizes)
    listed = ", ".join(str(size) for size in sizes)
    if total > count:
        raise FieldhubError(f"the waves add up to {total} devices; the {what} has {devices}", path="waves")
    if rest:
        if total == count:
            raise FieldhubError(
                f"the last wave (0: the rest) would be empty: {listed} take all {devices}", path="waves"
            )
        return [*sizes, count - total]
    if total < count:
        raise FieldhubError(
            f"the waves add up to {total} of the {devices}: end with 0 for the rest ({listed}, 0)", path="waves"
        )
    return sizes

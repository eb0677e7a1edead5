"""A device's sensor curves."""

from __future__ import annotations

import math
import random


class Climate:
    """Indoor climate: a daily cycle, slow weather drift and sensor noise, per device."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.base = rng.uniform(18.0, 24.0)
        self.swing = rng.uniform(1.0, 3.5)
        self.phase = rng.uniform(0, 2 * math.pi)
        self.drift = 0.0
        self.pressure = rng.uniform(99.5, 102.5)
        self.elapsed = 0.0

    def next(self, seconds: float) -> tuple[float, float, float]:
        self.elapsed += seconds
        day = math.sin(2 * math.pi * self.elapsed / 86_400 + self.phase)
        self.drift = max(-3.0, min(3.0, self.drift + self.rng.gauss(0, 0.05)))
        temperature = self.base + self.swing * day + self.drift + self.rng.gauss(0, 0.08)
        humidity = max(5.0, min(95.0, 50 - 2.5 * (temperature - self.base) + self.rng.gauss(0, 0.4)))
        self.pressure = max(95.0, min(105.0, self.pressure + self.rng.gauss(0, 0.01)))
        return round(temperature, 2), round(humidity, 1), round(self.pressure, 2)

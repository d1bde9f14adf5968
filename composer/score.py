"""The timeline every part writes into: ticks, the sixteenth-note grid with swing, notes and control events."""

import random
from dataclasses import dataclass, field

TICKS_PER_BEAT = 480
STEP = TICKS_PER_BEAT // 4  # a sixteenth note
BAR = 16 * STEP
NOTE_ON, CONTROL, PITCH_BEND = 0x90, 0xB0, 0xE0


@dataclass
class Part:
    """What one track plays: notes (start, length, pitch, velocity) and channel events (tick, status, data)."""

    notes: list[tuple[int, int, int, int]] = field(default_factory=list)
    events: list[tuple[int, int, int, int]] = field(default_factory=list)

    def note(self, start: int, length: int, pitch: int, velocity: float) -> None:
        self.notes.append((start, length, pitch, int(velocity)))

    def control(self, tick: int, controller: int, value: float) -> None:
        self.events.append((tick, CONTROL, controller, max(0, min(127, int(value)))))

    def bend(self, tick: int, semitones: float, bend_range: int) -> None:
        value = max(-8192, min(8191, round(semitones / bend_range * 8192)))
        self.events.append((tick, PITCH_BEND, (value + 8192) & 0x7F, (value + 8192) >> 7))


@dataclass(frozen=True)
class Feel:
    """How a genre sits on the grid: swing of the off sixteenths and random drift, in ticks."""

    swing: float
    drift: int
    rng: random.Random

    def tick(self, bar: int, step: float) -> int:
        """Tick of a sixteenth step within a bar, swung: odd sixteenths arrive late by the swing amount."""
        whole = int(step)
        late = (self.swing - 0.5) * 2 * STEP if whole % 2 == 1 and whole == step else 0.0
        return bar * BAR + int(step * STEP + late)

    def human(self, tick: int) -> int:
        """The tick nudged by up to `drift` either way (never before the song starts)."""
        if not self.drift:
            return tick
        return max(0, tick + int((self.rng.random() * 2 - 1) * self.drift))

    def velocity(self, base: float, spread: float = 6.0) -> int:
        return max(1, min(127, int(base + (self.rng.random() * 2 - 1) * spread)))

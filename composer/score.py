"""The timeline every part writes into: ticks, the meter's bar and pulses, the sixteenth grid with swing, notes
and control events.

Tempo always counts quarter notes (as the MIDI tempo event does), so an x/8 bar is x eighth notes long: at 120 BPM
a 6/8 bar lasts 1.5 seconds, a 7/8 bar 1.75 seconds."""

import math
import random
from dataclasses import dataclass, field
from functools import cached_property

TICKS_PER_BEAT = 480
STEP = TICKS_PER_BEAT // 4  # a sixteenth note
NOTE_ON, CONTROL, PITCH_BEND = 0x90, 0xB0, 0xE0


@dataclass(frozen=True)
class Meter:
    """A time signature: its bar on the sixteenth grid and the pulses a listener counts."""

    numerator: int
    denominator: int  # 4 or 8
    pulses: tuple[int, ...]  # steps of the counted beats: quarters in x/4, the note groups of x/8 (7/8 as 2+2+3)

    @property
    def name(self) -> str:
        return f"{self.numerator}/{self.denominator}"

    @cached_property
    def steps(self) -> int:
        return self.numerator * 16 // self.denominator

    @cached_property
    def bar_ticks(self) -> int:
        return self.steps * STEP

    @cached_property
    def quarter_notes(self) -> float:
        return self.numerator * 4 / self.denominator

    @cached_property
    def spans(self) -> tuple[int, ...]:
        """Length of each pulse in steps."""
        return tuple(b - a for a, b in zip(self.pulses, (*self.pulses[1:], self.steps), strict=True))

    @cached_property
    def click_steps(self) -> int:
        """The metronome click: the pulse when pulses are even (a dotted quarter in 6/8), else the common unit."""
        return math.gcd(*self.spans)


METERS: dict[str, Meter] = {
    meter.name: meter
    for meter in (
        Meter(2, 4, (0, 4)),
        Meter(3, 4, (0, 4, 8)),
        Meter(4, 4, (0, 4, 8, 12)),
        Meter(5, 4, (0, 4, 8, 12, 16)),
        Meter(6, 8, (0, 6)),
        Meter(7, 8, (0, 4, 8)),
        Meter(12, 8, (0, 6, 12, 18)),
    )
}
COMMON_TIME = METERS["4/4"]


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
    """How a genre sits on the meter's grid: swing of the off sixteenths and random drift, in ticks."""

    swing: float
    drift: int
    rng: random.Random
    meter: Meter

    def bar(self, bar: int) -> int:
        """Tick where a bar starts."""
        return bar * self.meter.bar_ticks

    def tick(self, bar: int, step: float) -> int:
        """Tick of a sixteenth step within a bar, swung: odd sixteenths arrive late by the swing amount."""
        whole = int(step)
        late = (self.swing - 0.5) * 2 * STEP if whole % 2 == 1 and whole == step else 0.0
        return bar * self.meter.bar_ticks + int(step * STEP + late)

    def human(self, tick: int) -> int:
        """The tick nudged by up to `drift` either way (never before the song starts)."""
        if not self.drift:
            return tick
        return max(0, tick + int((self.rng.random() * 2 - 1) * self.drift))

    def velocity(self, base: float, spread: float = 6.0) -> int:
        return max(1, min(127, int(base + (self.rng.random() * 2 - 1) * spread)))

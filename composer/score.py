"""The timeline every part writes into: ticks, the meter's bar and pulses, the sixteenth grid with swing, notes
and control events.

Tempo always counts quarter notes (as the MIDI tempo event does), so an x/8 bar is x eighth notes long: at 120 BPM
a 6/8 bar lasts 1.5 seconds, a 7/8 bar 1.75 seconds."""

import math
import random
import re
from dataclasses import dataclass, field
from functools import cache, cached_property

TICKS_PER_BEAT = 480
STEP = TICKS_PER_BEAT // 4  # a sixteenth note
NOTE_ON, CONTROL, PITCH_BEND = 0x90, 0xB0, 0xE0


BEAT_COUNTS = range(2, 16)  # a bar of 2 to 15 beats
NOTE_VALUES = (2, 4, 8, 16)  # half, quarter, eighth or sixteenth beats: the sixteenth grid holds them all
METER_FORM = "n/d with n 2-15 and d 2, 4, 8 or 16"
_METER_NAME = re.compile(r"([1-9][0-9]?)/([1-9][0-9]?)")


@dataclass(frozen=True)
class Meter:
    """A time signature: its bar on the sixteenth grid and the pulses a listener counts."""

    numerator: int
    denominator: int  # one of NOTE_VALUES
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

    @cached_property
    def backbeats(self) -> tuple[int, ...]:
        """Every other pulse from the second (2 and 4 of 4/4, the second dotted quarter of 6/8): where a snare
        answers the kick. An odd count leaves the last pulse unstressed, leading into the next downbeat."""
        return self.pulses[1::2]

    @cached_property
    def strong_pulses(self) -> tuple[int, ...]:
        """The downbeat and every other pulse after it (1 and 3 of 4/4): where a kick or a bass note lands."""
        return self.pulses[::2]

    @cached_property
    def pickup(self) -> int:
        """The bar's last eighth (its last sixteenth in x/16, which counts sixteenths): a kick or a bass note there
        pushes into the next downbeat."""
        return self.steps - min(2, 16 // self.denominator)

    @cached_property
    def offbeats(self) -> tuple[int, ...]:
        """The eighths between the pulses (the sixteenths between them where every eighth is a pulse): where an
        offbeat hat or bass note plays."""
        eighths = tuple(step for step in range(0, self.steps, 2) if step not in self.pulses)
        return eighths or tuple(step for step in range(1, self.steps, 2) if step not in self.pulses)


def meter_named(name: object) -> Meter | None:
    """The meter a name such as '4/4', '6/8' or '11/8' writes (METER_FORM); None for any other text."""
    match = _METER_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        return None
    return meter_of(int(match.group(1)), int(match.group(2)))


@cache
def meter_of(numerator: int, denominator: int) -> Meter | None:
    """The meter n/d with its pulses (`pulses_of`); None outside the range the composer writes."""
    if numerator not in BEAT_COUNTS or denominator not in NOTE_VALUES:
        return None
    return Meter(numerator, denominator, pulses_of(numerator, denominator))


def pulses_of(numerator: int, denominator: int) -> tuple[int, ...]:
    """The steps a listener counts. Half and quarter notes are the beats themselves. Eighths and sixteenths group
    the way players count them: in threes (dotted beats) as far as the count allows, the twos it leaves first -
    6/8, 9/8, 12/8 and 15/16 in threes; 5/8 as 2+3, 7/8 as 2+2+3, 8/8 as 2+3+3, 11/8 as 2+3+3+3. As few pulses as
    the bar allows is the slowest count a player can keep, and the long groups last lean into the next downbeat
    (the composer's 7/8 has always been 2+2+3). A bar of only 2 or 3 eighths (or sixteenths) counts each note."""
    unit = 16 // denominator
    if denominator <= 4 or numerator <= 3:
        groups = [1] * numerator
    else:
        twos = (3 - numerator % 3) % 3  # none when the count divides by three, else the one or two it needs
        groups = [2] * twos + [3] * ((numerator - 2 * twos) // 3)
    starts = [0]
    for group in groups[:-1]:
        starts.append(starts[-1] + group * unit)
    return tuple(starts)


COMMON_TIME = Meter(4, 4, pulses_of(4, 4))


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
        """Tick of a sixteenth step within a bar, swung: odd sixteenths arrive late by the swing amount, but for a
        pulse of x/16 (the 3 of 3+3 in 6/16), which keeps the count."""
        whole = int(step)
        swung = whole % 2 == 1 and whole == step and whole not in self.meter.pulses
        late = (self.swing - 0.5) * 2 * STEP if swung else 0.0
        return bar * self.meter.bar_ticks + int(step * STEP + late)

    def human(self, tick: int) -> int:
        """The tick nudged by up to `drift` either way (never before the song starts)."""
        if not self.drift:
            return tick
        return max(0, tick + int((self.rng.random() * 2 - 1) * self.drift))

    def velocity(self, base: float, spread: float = 6.0) -> int:
        return max(1, min(127, int(base + (self.rng.random() * 2 - 1) * spread)))

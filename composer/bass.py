"""Bass parts: chord roots in the low register, in the genre's rhythm; 808 glides and dubstep wobbles."""

import itertools
import math
import random
from functools import cache

from composer.arrange import Section, plays
from composer.genres import BassStyle, Form
from composer.score import STEP, Feel, Meter, Part
from composer.theory import Chord, Key

LOWEST = 33  # A1: lower than this a General MIDI bass turns to mud on most speakers
BEND_RANGE = 12  # semitones, set by RPN 0 so an 808 can glide up to an octave
MODULATION = 1

# Dubstep wobble rhythms per meter and bar, (start step, length in steps), and LFO rates in cycles per beat;
# `_wobble_rhythms` makes the rhythms for other meters.
WOBBLE_RHYTHMS: dict[str, tuple[tuple[tuple[int, int], ...], ...]] = {
    "2/4": (((0, 6), (6, 2)), ((0, 4), (4, 4)), ((0, 3), (3, 5))),
    "3/4": (((0, 6), (6, 2), (8, 4)), ((0, 4), (4, 4), (8, 4)), ((0, 8), (8, 4))),
    "4/4": (((0, 6), (6, 2), (8, 8)), ((0, 4), (4, 4), (8, 3), (11, 5)), ((0, 8), (8, 6), (14, 2))),
    "5/4": (((0, 6), (6, 6), (12, 8)), ((0, 12), (12, 4), (16, 4)), ((0, 4), (4, 8), (12, 8))),
    "6/8": (((0, 6), (6, 6)), ((0, 4), (4, 2), (6, 6)), ((0, 6), (6, 4), (10, 2))),
    "7/8": (((0, 4), (4, 4), (8, 6)), ((0, 8), (8, 6)), ((0, 4), (4, 10))),
    "12/8": (((0, 6), (6, 6), (12, 12)), ((0, 12), (12, 6), (18, 6)), ((0, 4), (4, 2), (6, 6), (12, 12))),
}
WOBBLE_RATES = (1.0, 2.0, 3.0, 4.0)
# Where the bass plays when no kick drum leads it, per meter: (808 hits, kick-locked hits); `_free_steps` makes
# them for other meters.
FREE_STEPS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "2/4": ((0, 3), (0, 6)),
    "3/4": ((0, 7), (0, 8, 10)),
    "4/4": ((0, 7, 10), (0, 8, 10)),
    "5/4": ((0, 7, 12), (0, 12, 14)),
    "6/8": ((0, 6, 10), (0, 6)),
    "7/8": ((0, 8, 10), (0, 8)),
    "12/8": ((0, 10, 12), (0, 12, 18)),
}


def bass_part(
    style: BassStyle,
    form: Form,
    key: Key,
    sections: tuple[Section, ...],
    chords: list[Chord],
    kicks: list[list[int]],
    feel: Feel,
    rng: random.Random,
) -> Part:
    part = Part()
    meter = feel.meter
    if style == "808":
        _set_bend_range(part)
    last_bar = max((section.end_bar - 1 for section in sections if plays(form, section, "bass")), default=-1)
    for section in sections:
        if not plays(form, section, "bass"):
            continue
        for bar in range(section.start_bar, section.end_bar):
            chord = chords[bar]
            following = chords[bar + 1] if bar + 1 < len(chords) else chord
            root = _low(chord.bass_note)
            volume = 70 + 40 * section.energy
            if style == "808":  # the bass line's last note is the tonic, as in the pattern styles below
                steps = kicks[bar] or list(_free_steps(meter)[0])
                home = _low(key.tonic) if bar == last_bar else None
                _808_bar(part, feel, rng, bar, steps, root, _low(following.bass_note), volume, section, home)
            elif style == "wobble" and section.energy >= 0.85:
                _wobble_bar(part, feel, rng, bar, root, _fifth(chord), volume)
            elif style in ("wobble", "sustain", "reese"):
                _long_bar(part, feel, bar, root, volume, modulate=style == "reese")
            elif style in STYLED:
                _styled_bar(part, style, feel, key, bar, chord, following, volume)
            else:
                ending = bar == last_bar
                _pattern_bar(part, style, feel, rng, key, bar, kicks[bar], chord, following, volume, ending)
    return part


def _low(pc: int) -> int:
    return LOWEST + (pc - LOWEST) % 12


def _set_bend_range(part: Part) -> None:
    for controller, value in ((101, 0), (100, 0), (6, BEND_RANGE), (38, 0), (101, 127), (100, 127)):
        part.control(0, controller, value)


def _808_bar(
    part: Part, feel: Feel, rng: random.Random, bar: int, steps: list[int], root: int, next_root: int,
    volume: float, section: Section, home: int | None = None,
) -> None:  # fmt: skip
    """Long 808 notes on the kicks; some glide (pitch bend) into the next note, then the bend recentres; with
    `home`, the bar's last note after its first is that tonic, the bass line's ending."""
    pitches = [root + (12 if index and rng.random() < 0.15 else 0) for index in range(len(steps))]
    if home is not None and len(steps) > 1:
        pitches[-1] = home
    for index, step in enumerate(steps):
        start = feel.tick(bar, step)
        last = index == len(steps) - 1
        end = feel.bar(bar + 1) if last else feel.tick(bar, steps[index + 1])
        if last and bar + 1 >= section.end_bar:
            end = min(end, start + 4 * STEP)
        target = next_root if last else pitches[index + 1]
        pitch = pitches[index]
        part.note(start, end - start, pitch, feel.velocity(volume + 10, 4))
        glide = target - pitch
        if glide and abs(glide) <= BEND_RANGE and end - start >= 3 * STEP and rng.random() < 0.45:
            ramp = min(2 * STEP, (end - start) // 2)
            for i in range(1, 7):
                part.bend(end - ramp + ramp * i // 7, glide * i / 7, BEND_RANGE)
            part.bend(end, 0, BEND_RANGE)


def _fifth(chord: Chord) -> int:
    """Semitones above the bass note to the chord tone a bass line leaps to: the fifth, or over a slash chord's
    bass ('G/B') the fifth above that bass when the chord holds it, else the chord's root above it."""
    if chord.bass is not None:
        if (chord.bass + 7) % 12 in chord.tones:
            return 7
        return (chord.root - chord.bass) % 12 or 12
    return (chord.tones[2] - chord.root) % 12 if len(chord.tones) > 2 else 12


def _wobble_bar(part: Part, feel: Feel, rng: random.Random, bar: int, root: int, fifth: int, volume: float) -> None:
    """Held notes whose modulation wheel swings at a per-note rate: the wobble."""
    for start_step, length in rng.choice(_wobble_rhythms(feel.meter)):
        start = feel.tick(bar, start_step)
        duration = length * STEP
        pitch = root + rng.choice((0, 0, 12, fifth))
        part.note(start, duration, pitch, feel.velocity(volume + 8, 4))
        rate = rng.choice(WOBBLE_RATES)
        for tick in range(0, duration, STEP // 4):
            phase = tick / (4 * STEP) * rate
            part.control(start + tick, MODULATION, 64 - 63 * math.cos(2 * math.pi * phase))
        part.control(start + duration, MODULATION, 0)


def _long_bar(part: Part, feel: Feel, bar: int, root: int, volume: float, *, modulate: bool) -> None:
    """A whole-bar note; a reese bass breathes with a slow modulation sweep."""
    start, steps = feel.bar(bar), feel.meter.steps
    part.note(start, steps * STEP, root, feel.velocity(volume - 5, 3))
    if modulate:
        for step in range(0, steps, 2):
            part.control(start + step * STEP, MODULATION, 20 + 50 * math.sin(math.pi * step / steps))
        part.control(start + steps * STEP - 1, MODULATION, 20)


# Rhythms: (step, length in steps, what to play) - "r" root, "o" octave, "f" fifth, "a" approach; "t" the tonic.
Rhythm = tuple[tuple[int, int, str], ...]
# Walking lines per meter (`_walking` makes them for other meters).
WALKING: dict[str, tuple[Rhythm, ...]] = {
    "2/4": (((0, 6, "r"), (6, 2, "a")), ((0, 4, "r"), (4, 2, "f"), (6, 2, "a"))),
    "3/4": (((0, 6, "r"), (6, 2, "f"), (8, 2, "o"), (10, 2, "a")), ((0, 7, "r"), (7, 3, "f"), (10, 2, "a"))),
    "4/4": (
        ((0, 6, "r"), (6, 2, "f"), (8, 2, "r"), (10, 4, "o"), (14, 2, "a")),
        ((0, 7, "r"), (7, 3, "f"), (10, 4, "r"), (14, 2, "a")),
    ),
    "5/4": (
        ((0, 6, "r"), (6, 2, "f"), (8, 4, "o"), (12, 6, "r"), (18, 2, "a")),
        ((0, 10, "r"), (10, 2, "f"), (12, 6, "o"), (18, 2, "a")),
    ),
    "6/8": (((0, 4, "r"), (4, 2, "f"), (6, 4, "o"), (10, 2, "a")), ((0, 6, "r"), (6, 4, "f"), (10, 2, "a"))),
    "7/8": (
        ((0, 4, "r"), (4, 4, "f"), (8, 4, "o"), (12, 2, "a")),
        ((0, 6, "r"), (6, 2, "f"), (8, 4, "r"), (12, 2, "a")),
    ),
    "12/8": (
        ((0, 6, "r"), (6, 4, "f"), (10, 2, "r"), (12, 6, "o"), (18, 4, "r"), (22, 2, "a")),
        ((0, 10, "r"), (10, 2, "f"), (12, 10, "r"), (22, 2, "a")),
    ),
}


@cache
def _free_steps(meter: Meter) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """FREE_STEPS, or for another meter: the 808 on the strong pulses and the pickup into the next bar, a
    kick-locked bass on every pulse."""
    if meter.name in FREE_STEPS:
        return FREE_STEPS[meter.name]
    return tuple(sorted({*meter.strong_pulses, meter.pickup})), meter.pulses


@cache
def _wobble_rhythms(meter: Meter) -> tuple[tuple[tuple[int, int], ...], ...]:
    """WOBBLE_RHYTHMS, or for another meter: a note a pulse; the first two pulses held as one; each pulse of a
    quarter note or longer split in two, for a faster wobble."""
    if meter.name in WOBBLE_RHYTHMS:
        return WOBBLE_RHYTHMS[meter.name]
    per_pulse = tuple(zip(meter.pulses, meter.spans, strict=True))
    held = ((0, meter.spans[0] + meter.spans[1]), *per_pulse[2:])
    split = tuple(
        note
        for start, span in per_pulse
        for note in (((start, span // 2), (start + span // 2, span - span // 2)) if span >= 4 else ((start, span),))
    )
    return per_pulse, held, split


@cache
def _walking(meter: Meter) -> tuple[Rhythm, ...]:
    """Walking lines for a meter with no hand-tuned ones: a note a pulse (root, fifth, octave, root...) and the
    same with the root held over the first two pulses; the bar's last eighth (sixteenth in a short pulse) leads
    into the next chord."""

    def walk(starts: tuple[int, ...]) -> Rhythm:
        ends = (*starts[1:], meter.steps)
        notes = [(start, end - start, "rfor"[i % 4]) for i, (start, end) in enumerate(zip(starts, ends, strict=True))]
        start, length, what = notes[-1]
        approach = 2 if length >= 4 else 1 if length >= 2 else 0
        if approach:
            notes[-1:] = [(start, length - approach, what), (start + length - approach, approach, "a")]
        else:
            notes[-1] = (start, length, "a")
        return tuple(notes)

    return walk(meter.pulses), walk((0, *meter.pulses[2:]))


@cache
def _rhythms(style: BassStyle, meter: Meter) -> tuple[Rhythm, ...]:
    """The style's one-bar rhythms in this meter; the seed picks one per bar."""
    steps, pulses = meter.steps, meter.pulses
    if style == "walking":
        return WALKING.get(meter.name) or _walking(meter)
    if style == "offbeat":  # the eighths between the pulses, the last answered an octave up
        offbeats = list(meter.offbeats or pulses)
        last = offbeats[-1]
        return (
            tuple((step, 2, "o" if index == len(offbeats) - 2 else "r") for index, step in enumerate(offbeats)),
            (*((step, 2, "r") for step in offbeats[:-1]), (last, 1, "o"), (last + 1, 1, "r")),
        )
    if style == "rolling":  # every sixteenth but the kick's pulses (a bar of only pulses: its downbeat)
        rolling = tuple((step, 1, "o" if step == steps - 1 else "r") for step in range(steps) if step not in pulses)
        return (rolling or ((0, steps, "r"),),)
    return (  # pulse: straight eighths, one variant walking up into the next bar
        tuple((step, 2, "r") for step in range(0, steps, 2)),
        (*((step, 2, "r") for step in range(0, steps - 2, 2)), (steps - 2, 2, "a")),
    )


def _pattern_bar(
    part: Part, style: BassStyle, feel: Feel, rng: random.Random, key: Key, bar: int, kicks: list[int],
    chord: Chord, following: Chord, volume: float, ending: bool = False,
) -> None:  # fmt: skip
    """One bar of the style's rhythm over the chord; in the bass line's ending bar the last note is the tonic (an
    anticipation of the home chord where this chord does not hold it)."""
    root = _low(chord.bass_note)
    meter = feel.meter
    if style == "kick_locked":
        steps = kicks or list(_free_steps(meter)[1])
        gaps = [*(b - a for a, b in itertools.pairwise(steps)), meter.steps - steps[-1]]
        rhythm = [
            (step, min(gap, 3), "r" if index == 0 or rng.random() < 0.7 else "o")
            for index, (step, gap) in enumerate(zip(steps, gaps, strict=True))
        ]
        if steps[-1] < meter.steps - 2 and rng.random() < 0.5:
            rhythm.append((meter.steps - 2, 2, "a"))
    else:
        rhythm = list(rng.choice(_rhythms(style, meter)))
    if ending and len(rhythm) > 1:
        rhythm[-1] = (*rhythm[-1][:2], "t")
    for step, length, what in rhythm:
        if step >= meter.steps:  # a bar shorter than the rhythm (3/16) ends the notes it would carry on
            break
        length = min(length, meter.steps - step)
        pitch = _low(key.tonic) if what == "t" else _choose(what, root, chord, following, key)
        tick = feel.human(feel.tick(bar, step))
        accent = 8 if step in meter.pulses else 0
        part.note(tick, length * STEP - 10, pitch, feel.velocity(volume + accent, 5))


def _choose(what: str, root: int, chord: Chord, following: Chord, key: Key) -> int:
    if what == "o":
        return root + 12
    if what == "f":
        return root + _fifth(chord)
    if what == "a" and following.bass_note != chord.bass_note:
        # A scale step next to the coming root leads the ear into the chord change.
        target = _low(following.bass_note)
        scale = key.scale
        below = next(target - d for d in range(1, 3) if (target - d) % 12 in scale)
        return below if below >= LOWEST else target + next(d for d in range(1, 3) if (target + d) % 12 in scale)
    return root


# Styles whose rhythm is built from the meter's pulses, so they play in any meter.
STYLED: tuple[BassStyle, ...] = ("two_beat", "octave", "one_drop", "bossa", "quarters")


@cache
def _styled_rhythm(style: BassStyle, meter: Meter) -> Rhythm:
    """quarters: jazz's walk on every pulse; two_beat: root and fifth on the strong pulses (country and march: 1
    and 3 in 4/4, 1 and 2 in 2/4; a waltz's root on 1 alone); octave: disco's eighths between root and octave;
    one_drop and bossa: their 4/4 figures (elsewhere the two-beat)."""
    steps, pulses = meter.steps, meter.pulses
    if style == "quarters":  # a walk on every pulse: root, fifth, octave ..., the last leading to the next chord
        ends = (*pulses[1:], steps)
        return tuple((step, end - step, "a" if index == len(pulses) - 1 else "rfo"[index % 3])
                     for index, (step, end) in enumerate(zip(pulses, ends, strict=True)))  # fmt: skip
    if style == "octave":
        return tuple((step, 2, "o" if step % 4 else "r") for step in range(0, steps, 2))
    if steps == 16 and style == "one_drop":  # the bass rests on beat three, where the drums drop
        return ((0, 6, "r"), (6, 2, "r"), (10, 2, "f"), (12, 4, "r"))
    if steps == 16 and style == "bossa":  # root and fifth in dotted quarters, leading into the next chord
        return ((0, 6, "r"), (6, 2, "f"), (8, 6, "f"), (14, 2, "a"))
    strong = pulses if len(pulses) <= 2 else pulses[::2] if len(pulses) % 2 == 0 else pulses[:1]
    ends = (*strong[1:], steps)
    return tuple((step, min(end - step, 4), "f" if index % 2 else "r")
                 for index, (step, end) in enumerate(zip(strong, ends, strict=True)))  # fmt: skip


def _styled_bar(
    part: Part, style: BassStyle, feel: Feel, key: Key, bar: int, chord: Chord, following: Chord, volume: float
) -> None:
    root = _low(chord.bass_note)
    for step, length, what in _styled_rhythm(style, feel.meter):
        pitch = _choose(what, root, chord, following, key)
        accent = 8 if step in feel.meter.pulses else 0
        part.note(feel.human(feel.tick(bar, step)), length * STEP - 10, pitch, feel.velocity(volume + accent, 5))

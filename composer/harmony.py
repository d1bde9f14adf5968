"""Chord and pad parts: the progression voiced with smooth voice leading, in the genre's comping rhythm."""

import random
from functools import cache

from composer.arrange import Section, plays
from composer.genres import ChordStyle, Form
from composer.score import COMMON_TIME, STEP, Feel, Meter, Part
from composer.theory import Chord, Key, tonic_chord

EXPRESSION = 11
# Comping rhythms in 4/4 per style; the seed picks one per section. Other meters comp on their pulses.
RHYTHMS: dict[str, tuple[str, ...]] = {
    "stabs": ("..x..x....x..x..", "x..x..x...x..x..", "..x...x...x...x."),
    "sparse_stabs": ("...x.....x....x.", "..x.....x.......", "......x.......x."),
    "chops": ("x.....x...x.....", "x.......x..x....", "x..x......x....."),
    "supersaw": ("x..x..x.x..x..x.", "x..x..x...x.x...", "x.x..x..x..x.x.."),
    "comp": ("x...x.x.x...x.x.", "x..x..x...x.x...", "x...x...x...x..."),
    "skank": ("..x...x...x...x.", "....x.......x..."),  # reggae's offbeat chop
    "power": ("x.x.x.x.x.x.x.x.", "x.x.x.x.x..xx.x.", "x..x..x.x..x..x."),  # rock's driving eighths
    "bossa": ("x.x..x.x.x..x.x.", "x...x.x...x.x..."),
    "charleston": ("x.....x.........", "x.....x...x.....", "...x......x....."),  # jazz comping
}


def voice_chord(
    chord: Chord, previous: tuple[int, ...], low: int, high: int, key: Key | None = None
) -> tuple[int, ...]:
    """Close-position voicing in [low, high] nearest the previous one; a ninth chord leaves out one tone, the
    root (the bass has it) unless it is a tone that states the key, then the fifth, else the ninth."""
    tones = _four_of(chord.tones, key_tones(key)) if len(chord.tones) >= 5 else chord.tones
    best: tuple[int, ...] = ()
    best_cost = float("inf")
    for rotation in range(len(tones)):
        order = tones[rotation:] + tones[:rotation]
        first = low + (order[0] - low) % 12
        for base in (first, first + 12):
            pitches = [base]
            for pc in order[1:]:
                pitches.append(pitches[-1] + 1 + (pc - pitches[-1] - 1) % 12)
            if pitches[-1] > high:
                continue
            if len(previous) == len(pitches):
                cost = float(sum(abs(a - b) for a, b in zip(previous, pitches, strict=True)))
            else:
                cost = abs(sum(pitches) / len(pitches) - (low + high) / 2) * 2
            if cost < best_cost:
                best, best_cost = tuple(pitches), cost
    return best


def key_tones(key: Key | None) -> tuple[int, ...]:
    """The pitch classes that state a key, most telling first: its fifth and its tonic (the tones key-finding
    weighs most, in major and minor alike), then its second degree (which its subdominant key and, in minor, its
    relative major hardly use)."""
    return () if key is None else (key.scale[4], key.tonic, key.scale[1])


def _four_of(tones: tuple[int, ...], kept: tuple[int, ...]) -> tuple[int, ...]:
    """A five-tone chord less one: its root, else its fifth, whichever is not a kept tone; else its top tone."""
    root, _, fifth, *_ = tones
    left_out = next((tone for tone in (root, fifth) if tone not in kept), tones[-1])
    return tuple(tone for tone in tones if tone != left_out)


def ending_on_the_tonic(chords: list[Chord], progression: tuple[Chord, ...], key: Key, bars: int) -> list[Chord]:
    """The chords by bar with the last `bars` (one chord's length) on the progression's tonic chord, so the song
    ends at home; a progression with no tonic chord is left to end as it is."""
    home = tonic_chord(key, progression)
    if home is None:
        return chords
    last = max(len(chords) - bars, 0)
    return chords[:last] + [home] * (len(chords) - last)


def chord_runs(section: Section, chords: list[Chord]) -> list[tuple[int, int, Chord]]:
    """(first bar, bars, chord) for each stretch of one chord within a section."""
    runs: list[tuple[int, int, Chord]] = []
    for bar in range(section.start_bar, section.end_bar):
        if runs and runs[-1][2] == chords[bar] and runs[-1][0] + runs[-1][1] == bar:
            start, length, chord = runs[-1]
            runs[-1] = (start, length + 1, chord)
        else:
            runs.append((bar, 1, chords[bar]))
    return runs


def chord_part(
    style: ChordStyle, genre_name: str, form: Form, sections: tuple[Section, ...], chords: list[Chord],
    feel: Feel, rng: random.Random, density: float = 1.0, *, key: Key,
) -> Part:  # fmt: skip
    """The chords in the style's rhythm; a mood's `density` below 1 holds them in more sections, above 1 comps
    in more."""
    part = Part()
    voicing: tuple[int, ...] = ()
    steps, bar_ticks = feel.meter.steps, feel.meter.bar_ticks
    restrum = max(steps - 6, steps // 2)  # a strummed bar may strike again on the and before the last pulse
    for section in sections:
        if not plays(form, section, "chords"):
            continue
        volume = 58 + 40 * section.energy
        rhythmic = (section.energy * density >= 0.6 or style == "arpeggio") and style not in ("sustain", "pad")
        rhythm = _rhythm(style, genre_name, feel.meter, rng)
        for start_bar, bars, chord in chord_runs(section, chords):
            voicing = _power_chord(chord) if style == "power" else voice_chord(chord, voicing, 52, 76, key)
            if not rhythmic:
                _hold(part, feel, voicing, feel.bar(start_bar), bars * bar_ticks, volume, strum=style == "strum")
                continue
            for bar in range(start_bar, start_bar + bars):
                if style == "arpeggio":
                    _arpeggio_bar(part, feel, voicing, bar, section.energy, volume)
                elif style == "strum":
                    split = restrum if rng.random() < 0.5 else steps
                    _hold(part, feel, voicing, feel.bar(bar), split * STEP, volume, strum=True)
                    if split < steps:
                        start, length = feel.bar(bar) + split * STEP, (steps - split) * STEP
                        _hold(part, feel, voicing, start, length, volume - 12, strum=True)
                else:
                    _comp_bar(part, feel, voicing, bar, rhythm, volume)
        if style == "supersaw" and section.energy >= 0.85:
            _pump(part, feel.meter, section)
    return part


def _rhythm(style: ChordStyle, genre_name: str, meter: Meter, rng: random.Random) -> str:
    if meter == COMMON_TIME:
        if style == "stabs" and genre_name == "techno":
            return rng.choice(RHYTHMS["sparse_stabs"])
        return rng.choice(RHYTHMS.get(style, RHYTHMS["comp"]))
    return rng.choice(_meter_rhythms(meter))


@cache
def _meter_rhythms(meter: Meter) -> tuple[str, ...]:
    """On the pulses; pushed ahead of each later pulse by an eighth; on the eighths between the pulses (those a
    meter has: every eighth of 3/8 is a pulse)."""
    pulses = set(meter.pulses)
    pushed = {0} | {pulse - 2 for pulse in meter.pulses[1:]}
    offbeats = {step for step in range(2, meter.steps, 2) if step not in pulses}
    return tuple(
        "".join("x" if step in hits else "." for step in range(meter.steps))
        for hits in (pulses, pushed, offbeats)
        if hits
    )


def _hold(part: Part, feel: Feel, voicing: tuple[int, ...], start: int, length: int, volume: float, *,
          strum: bool) -> None:  # fmt: skip
    """Every voice held for `length` ticks; a strum rolls the voices in from the bottom like a keyboardist."""
    start = feel.human(start)
    for index, pitch in enumerate(voicing):
        offset = index * 14 if strum else 0
        part.note(start + offset, length - offset - 8, pitch, feel.velocity(volume - index * 2, 4))


def _comp_bar(part: Part, feel: Feel, voicing: tuple[int, ...], bar: int, rhythm: str, volume: float) -> None:
    hits = [step for step, mark in enumerate(rhythm) if mark == "x"]
    for index, step in enumerate(hits):
        end = hits[index + 1] if index + 1 < len(hits) else len(rhythm)
        length = min(end - step, 3) * STEP - 12
        start = feel.human(feel.tick(bar, step))
        accent = 8 if step in feel.meter.pulses else 0
        for pitch in voicing:
            part.note(start, length, pitch, feel.velocity(volume + accent, 5))


def _pump(part: Part, meter: Meter, section: Section) -> None:
    """Sidechain-style ducking on every pulse through the expression controller."""
    shape = ((0, 30), (40, 70), (90, 96), (180, 116), (300, 127))
    for bar in range(section.start_bar, section.end_bar):
        for pulse in meter.pulses:
            start = bar * meter.bar_ticks + pulse * STEP
            for offset, value in shape:
                part.control(start + offset, EXPRESSION, value)


def pad_part(form: Form, sections: tuple[Section, ...], chords: list[Chord], feel: Feel, *, key: Key) -> Part:
    """Long, soft voicings above the chords, re-struck on each chord change."""
    part = Part()
    voicing: tuple[int, ...] = ()
    for section in sections:
        if not plays(form, section, "pad"):
            continue
        for start_bar, bars, chord in chord_runs(section, chords):
            voicing = voice_chord(chord, voicing, 60, 84, key)
            length = bars * feel.meter.bar_ticks
            _hold(part, feel, voicing, feel.bar(start_bar), length, 48 + 20 * section.energy, strum=False)
    return part


def _power_chord(chord: Chord) -> tuple[int, ...]:
    """Root, fifth and octave in the guitar's middle register: the chord's third left out, as rock plays it."""
    root = 48 + (chord.bass_note - 48) % 12
    fifth = (chord.tones[2] - chord.root) % 12 if len(chord.tones) > 2 else 7
    return root, root + fifth, root + 12


def _arpeggio_bar(part: Part, feel: Feel, voicing: tuple[int, ...], bar: int, energy: float, volume: float) -> None:
    """The chord broken up and down its voicing, in eighths (quarters where the music is quiet)."""
    spacing = 2 if energy >= 0.5 else 4
    turn = (*voicing, *voicing[-2:0:-1])  # up, then down without repeating the top or the bottom
    for index, step in enumerate(range(0, feel.meter.steps, spacing)):
        accent = 8 if step in feel.meter.pulses else 0
        start = feel.human(feel.tick(bar, step))
        part.note(start, spacing * STEP - 12, turn[index % len(turn)], feel.velocity(volume - 6 + accent, 5))

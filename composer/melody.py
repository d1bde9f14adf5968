"""Lead parts: a one-bar motif that repeats, is varied, and is answered, over the chords, in four-bar phrases."""

import random
from dataclasses import dataclass, replace

from composer.arrange import Section, plays
from composer.genres import Form, LeadStyle
from composer.score import STEP, Feel, Meter, Part
from composer.theory import Chord, Key

Motif = tuple[tuple[int, int], ...]  # (step in the bar, degree above the chord's root degree)


@dataclass(frozen=True)
class LeadShape:
    density: float  # chance of a note on a pulse; off-beats get less
    longest: int  # steps a note may ring
    sixteenths: bool  # whether odd sixteenths may start notes
    velocity: int


SHAPES: dict[LeadStyle, LeadShape] = {
    "bells": LeadShape(0.75, 4, True, 92),
    "lazy": LeadShape(0.55, 8, False, 78),
    "pluck": LeadShape(0.7, 2, True, 94),
    "acid": LeadShape(0.95, 1, True, 96),
    "hook": LeadShape(0.7, 6, False, 90),
    "slow": LeadShape(0.5, 16, False, 66),
    "legato": LeadShape(0.5, 8, False, 80),  # a singing line: classical, soundtrack, waltz
    "riff": LeadShape(0.85, 2, True, 96),  # short, busy guitar and horn riffs: rock, metal, funk
    "sax": LeadShape(0.6, 6, True, 86),  # phrases with held notes and quick pickups: jazz, blues
    "fiddle": LeadShape(0.8, 3, False, 88),  # running eighths: country, folk
}
STEPS = (-2, -1, -1, 0, 1, 1, 2, 3, -3)


def lead_part(
    style: LeadStyle, form: Form, key: Key, center: int, sections: tuple[Section, ...], chords: list[Chord],
    feel: Feel, rng: random.Random, density: float = 1.0,
) -> Part:  # fmt: skip
    """The lead; `density` (a mood's) scales how many of the motifs' steps play."""
    part = Part()
    shape = SHAPES[style]
    if density != 1.0:
        shape = replace(shape, density=min(1.0, shape.density * density))
    meter = feel.meter
    tonic = center - 5 - (center - 5 - key.tonic) % 12  # a tonic a little below the melody's centre
    motifs: dict[str, tuple[Motif, Motif]] = {}
    previous = center
    last_bar = max((section.end_bar - 1 for section in sections if plays(form, section, "lead")), default=-1)
    for section in sections:
        if not plays(form, section, "lead"):
            continue
        if section.name not in motifs:  # a section kind keeps its motif: the second drop sings the first's hook
            motifs[section.name] = (_motif(shape, meter, rng, chord_sizes=len(chords[section.start_bar].tones)),
                                    _motif(shape, meter, rng, answer=True))  # fmt: skip
        call, answer = motifs[section.name]
        volume = shape.velocity * (0.75 + 0.25 * section.energy)
        for bar in range(section.start_bar, section.end_bar):
            position = (bar - section.start_bar) % 4
            phrase = (bar - section.start_bar) // 4
            motif = answer if position == 3 else call
            if position == 1 or (phrase and rng.random() < 0.5):
                motif = _vary(motif, meter, rng)
            if bar == section.start_bar:  # a section's melody sets out from the tonic where the chord holds it
                motif = _land(motif, 0, key, chords[bar], HOME, over=chords[bar])
            if position == 3 or bar == section.end_bar - 1:  # phrase endings come to rest on the tonic or fifth
                motif = _land(motif, -1, key, chords[bar], RESTING, over=chords[bar])
            if bar == last_bar:  # and the melody ends on the tonic: within the chord where it can, else against it
                over = chords[bar] if _holds(key, chords[bar]) else None
                motif = _land(motif, -1, key, chords[bar], HOME, over=over)
            previous = _play_bar(part, feel, key, tonic, center, bar, motif, chords[bar], previous, shape, volume)
    return part


HOME, RESTING = (0,), (0, 4)  # scale degrees a melody starts and ends on; where its phrases may come to rest


def _holds(key: Key, chord: Chord, degrees: tuple[int, ...] = RESTING) -> bool:
    return any(key.scale[degree] in chord.tones for degree in degrees)


def _land(
    motif: Motif, index: int, key: Key, chord: Chord, degrees: tuple[int, ...], over: Chord | None = None
) -> Motif:
    """The motif with one note moved to the nearest of the key's `degrees` (0 tonic, 4 fifth) that the chord
    holds, so the melody states the key at its starts and ends; unchanged when the chord holds none of them. With
    `over` None, the nearest of the degrees whatever the chord."""
    if not motif:
        return motif
    root = _root_degree(key, chord)
    step, degree = motif[index]
    targets = [
        target for target in range(degree - 6, degree + 7)
        if (root + target) % 7 in degrees and (over is None or key.scale[(root + target) % 7] in over.tones)
    ]  # fmt: skip
    if not targets:
        return motif
    notes = list(motif)
    notes[index] = (step, min(targets, key=lambda target: (abs(target - degree), target)))
    return tuple(notes)


def _motif(shape: LeadShape, meter: Meter, rng: random.Random, *, answer: bool = False, chord_sizes: int = 3) -> Motif:
    """A bar of rhythm and contour: pulses on chord tones, stepwise motion between them."""
    notes: list[tuple[int, int]] = []
    degree = rng.choice((0, 2, 4))
    last_step = meter.steps // 2 if answer else meter.steps  # an answer breathes: it ends by mid-bar and holds
    for step in range(last_step):
        on_pulse = step in meter.pulses
        weight = 1.0 if on_pulse else 0.6 if step % 2 == 0 else (0.35 if shape.sixteenths else 0.0)
        if step and rng.random() > shape.density * weight:
            continue
        degree = max(-3, min(9, degree + rng.choice(STEPS)))
        if on_pulse:
            degree = _nearest_chord_tone(degree, chord_sizes)
        notes.append((step, degree))
    if answer:
        notes[-1] = (notes[-1][0], _nearest_chord_tone(notes[-1][1], 3))
    return tuple(notes)


def _nearest_chord_tone(degree: int, size: int) -> int:
    tones = (0, 2, 4, 6)[: max(3, min(size, 4))]
    return min((octave * 7 + tone for octave in (-1, 0, 1) for tone in tones), key=lambda d: (abs(d - degree), d))


def _vary(motif: Motif, meter: Meter, rng: random.Random) -> Motif:
    """The motif with one change: a neighbour note, a dropped note, or a different ending."""
    notes = list(motif)
    if len(notes) < 2:
        return motif
    index = rng.randrange(1, len(notes))
    change = rng.random()
    step, degree = notes[index]
    if change < 0.5 and step not in meter.pulses:
        notes[index] = (step, degree + rng.choice((-1, 1)))
    elif change < 0.75 and len(notes) > 3:
        del notes[index]
    else:
        notes[-1] = (notes[-1][0], _nearest_chord_tone(notes[-1][1] + rng.choice((-2, 2)), 3))
    return tuple(notes)


def _root_degree(key: Key, chord: Chord) -> int:
    """The chord root's scale degree (the nearest one when the chord is borrowed from outside the key)."""
    scale = key.scale
    return min(range(7), key=lambda d: min((scale[d] - chord.root) % 12, (chord.root - scale[d]) % 12))


def _play_bar(
    part: Part, feel: Feel, key: Key, tonic: int, center: int, bar: int, motif: Motif, chord: Chord,
    previous: int, shape: LeadShape, volume: float,
) -> int:  # fmt: skip
    """Writes the motif over this bar's chord in the octave nearest the melody so far; returns its last pitch."""
    root = _root_degree(key, chord)

    def pitches(shift: int) -> list[int]:
        return [key.degree_pitch(root + degree + shift, tonic) for _, degree in motif]

    candidates = [pitches(shift) for shift in (-7, 0, 7)]
    chosen = min(candidates, key=lambda p: abs(sum(p) / len(p) - center) + 0.5 * abs(p[0] - previous))
    for index, ((step, _), pitch) in enumerate(zip(motif, chosen, strict=True)):
        end = motif[index + 1][0] if index + 1 < len(motif) else feel.meter.steps
        length = min(end - step, shape.longest) * STEP - 10
        accent = 10 if step in feel.meter.pulses else 0
        part.note(feel.human(feel.tick(bar, step)), length, pitch, feel.velocity(volume + accent, 6))
    return chosen[-1]

"""Further parts for named instruments that share a role: the melody in harmony or octaves, an arpeggio or a held
voicing over the chords, a doubled bass; struck sounds on the pulse; and a part moved by octaves into the range its
instrument sounds well in.

Each is made from the parts the role already plays or from its chords, so it keeps the key and the form."""

from composer.arrange import Section, plays
from composer.effects import REVERSE_CYMBAL, fx_part
from composer.genres import Form
from composer.harmony import chord_runs, voice_chord
from composer.instruments import STRUCK_PROGRAMS, Role
from composer.score import STEP, Feel, Part
from composer.theory import Chord, Key

THIRD_BELOW, FOURTH_BELOW = -2, -3  # in scale degrees
OCTAVE = 12
# An arpeggio climbs the voicing and comes back down, an eighth note a step.
ARPEGGIO_ORDER = (0, 1, 2, 1)
HELD_EFFECT = 122  # any effect but the reverse cymbal: fx_part holds it under every section


def transposed(part: Part, semitones: int) -> Part:
    """The part moved by semitones; its controllers and bends (an 808's glides) come along."""
    return Part([(start, length, pitch + semitones, velocity) for start, length, pitch, velocity in part.notes],
                list(part.events))  # fmt: skip


def in_harmony(part: Part, key: Key) -> Part:
    """The melody a third below, a little softer, every note that was in the key still in it; a note on the tonic
    is harmonised by the fifth below it, not the sixth degree, so the tonic the melody rests on keeps stating the
    key rather than its relative."""
    notes = [(start, length, _harmony_below(pitch, key), velocity * 9 // 10)
             for start, length, pitch, velocity in part.notes]  # fmt: skip
    return Part(notes, list(part.events))


def _harmony_below(pitch: int, key: Key) -> int:
    """A pitch moved down the scale by a third (by a fourth from the tonic); a note outside the scale moves with
    the scale tone below it."""
    intervals = [(pc - key.tonic) % 12 for pc in key.scale]
    above = (pitch - key.tonic) % 12
    step = max(index for index, interval in enumerate(intervals) if interval <= above)
    degrees = FOURTH_BELOW if step == 0 else THIRD_BELOW
    return key.degree_pitch(step + degrees, pitch - above) + above - intervals[step]


def fitted(part: Part, register: tuple[int, int]) -> Part:
    """The part moved by whole octaves so that its notes centre in the instrument's range (a melody written for a
    violin, given to a tenor saxophone, goes down an octave); unchanged when it already sits well there."""
    if not part.notes:
        return part
    low, high = register
    mean = sum(pitch for _, _, pitch, _ in part.notes) / len(part.notes)
    if low + 6 <= mean <= high - 6:
        return part
    return transposed(part, OCTAVE * round(((low + high) / 2 - mean) / OCTAVE))


def arpeggio_part(form: Form, role: Role, sections: tuple[Section, ...], chords: list[Chord], feel: Feel) -> Part:
    """The chords broken into eighth notes, up and down their voicing, wherever the role plays."""
    part = Part()
    voicing: tuple[int, ...] = ()
    meter = feel.meter
    for section in sections:
        if not plays(form, section, role):
            continue
        volume = 56 + 32 * section.energy
        for start_bar, bars, chord in chord_runs(section, chords):
            voicing = voice_chord(chord, voicing, 55, 79)
            for bar in range(start_bar, start_bar + bars):
                for index, step in enumerate(range(0, meter.steps, 2)):
                    pitch = voicing[ARPEGGIO_ORDER[index % len(ARPEGGIO_ORDER)] % len(voicing)]
                    accent = 8 if step in meter.pulses else 0
                    part.note(feel.human(feel.tick(bar, step)), 2 * STEP - 10, pitch, feel.velocity(volume + accent, 4))
    return part


def held_part(form: Form, role: Role, sections: tuple[Section, ...], chords: list[Chord], feel: Feel) -> Part:
    """The chords held in a low, open-sounding voicing under the others, re-struck at each change."""
    part = Part()
    voicing: tuple[int, ...] = ()
    for section in sections:
        if not plays(form, section, role):
            continue
        for start_bar, bars, chord in chord_runs(section, chords):
            voicing = voice_chord(chord, voicing, 48, 72)
            start, length = feel.bar(start_bar), bars * feel.meter.bar_ticks
            for index, pitch in enumerate(voicing):
                part.note(start, length - 8, pitch, feel.velocity(50 + 20 * section.energy - 2 * index, 4))
    return part


def pulse_part(form: Form, role: Role, sections: tuple[Section, ...], chords: list[Chord], feel: Feel) -> Part:
    """A struck instrument (an agogo, a woodblock, a taiko) on the pulses of each bar, on the chord's root, the
    downbeat the loudest, wherever the role plays."""
    part = Part()
    meter = feel.meter
    for section in sections:
        if not plays(form, section, role):
            continue
        volume = 60 + 30 * section.energy
        for bar in range(section.start_bar, section.end_bar):
            pitch = 60 + (chords[bar].root - 60) % 12
            for pulse in meter.pulses:
                accent = 12 if pulse == 0 else 0
                part.note(feel.human(feel.tick(bar, pulse)), 2 * STEP, pitch, feel.velocity(volume + accent, 5))
    return part


def effect_part(
    program: int, form: Form, key: Key, sections: tuple[Section, ...], chords: list[Chord], feel: Feel, *, named: bool
) -> Part:
    """A sound effect's part: a struck sound on the pulse; a reverse cymbal swelling into the big sections, or, named
    in a song without any, held like an atmosphere; any other held under the song."""
    if program in STRUCK_PROGRAMS:
        return pulse_part(form, "fx", sections, chords, feel)
    part = fx_part(program, form, key, feel.meter, sections)
    if part.notes or not named or program != REVERSE_CYMBAL:
        return part
    return fx_part(HELD_EFFECT, form, key, feel.meter, sections)

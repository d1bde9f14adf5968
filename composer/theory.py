"""Pitch classes, keys, modes and diatonic chords: the music theory every part generator shares."""

import re
from dataclasses import dataclass
from functools import cache

SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_LETTER_ORDER = "CDEFGAB"
_ACCIDENTALS = {"": 0, "#": 1, "b": -1}

MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
}
MODE_WORDS: dict[str, str] = {
    "major": "major", "maj": "major", "ionian": "major",
    "minor": "minor", "min": "minor", "m": "minor", "aeolian": "minor",
    "dorian": "dorian", "phrygian": "phrygian", "lydian": "lydian",
    "mixolydian": "mixolydian", "mixo": "mixolydian", "locrian": "locrian",
}  # fmt: skip
MINOR_LIKE = frozenset({"minor", "dorian", "phrygian", "locrian"})
# How far each mode's tonic sits above the major scale that shares its notes (for the key signature).
_ABOVE_PARENT_MAJOR = {"major": 0, "dorian": 2, "phrygian": 4, "lydian": 5, "mixolydian": 7, "minor": 9, "locrian": 11}
# Sharps (+) or flats (-) of each major key by tonic pitch class; 6 is Gb unless the caller spelled a sharp.
_MAJOR_SHARPS = {0: 0, 7: 1, 2: 2, 9: 3, 4: 4, 11: 5, 6: -6, 1: -5, 8: -4, 3: -3, 10: -2, 5: -1}

_KEY_TEXT = re.compile(r"^\s*([a-g])\s*([#b\u266f\u266d]|\s+sharp\b|\s+flat\b)?\s*([a-z]*)\s*$", re.IGNORECASE)


def pitch_class(letter: str, accidental: str) -> int:
    return (_LETTERS[letter.lower()] + _ACCIDENTALS[accidental]) % 12


@dataclass(frozen=True)
class Key:
    tonic: int
    mode: str
    tonic_name: str
    sharps: int  # the key signature: + sharps, - flats

    @property
    def name(self) -> str:
        return f"{self.tonic_name} {self.mode}"

    @property
    def scale(self) -> tuple[int, ...]:
        """The scale's pitch classes, from the tonic up."""
        return tuple((self.tonic + step) % 12 for step in MODES[self.mode])

    @property
    def is_minor(self) -> bool:
        """True for the key signature's minor flag; modes are written with their parent major's signature."""
        return self.mode == "minor"

    @property
    def minor_like(self) -> bool:
        return self.mode in MINOR_LIKE

    def spell(self, pc: int) -> str:
        """A scale tone by its scale degree's letter, so each letter names one degree (Cb in Eb minor, E# in F#
        major); a tone outside the scale, or any tone of a key that would need double sharps or flats, as the key
        signature leans (flats or sharps)."""
        pc %= 12
        names = _degree_names(self.tonic_name[0], self.scale)
        if names is not None and pc in self.scale:
            return names[self.scale.index(pc)]
        return (FLAT_NAMES if self.sharps < 0 else SHARP_NAMES)[pc]

    def degree_pitch(self, degree: int, tonic_midi: int) -> int:
        """MIDI pitch of a scale degree (0 = tonic, 7 = tonic an octave up) counted from `tonic_midi`."""
        octave, step = divmod(degree, 7)
        return tonic_midi + 12 * octave + MODES[self.mode][step]


@cache
def _degree_names(tonic_letter: str, scale: tuple[int, ...]) -> tuple[str, ...] | None:
    """Each scale tone named with the letter of its degree; None when one would need a double accidental."""
    names = []
    for degree, pc in enumerate(scale):
        letter = _LETTER_ORDER[(_LETTER_ORDER.index(tonic_letter) + degree) % 7]
        alteration = (pc - _LETTERS[letter.lower()] + 6) % 12 - 6
        if not -1 <= alteration <= 1:
            return None
        names.append(letter + {-1: "b", 0: "", 1: "#"}[alteration])
    return tuple(names)


def make_key(tonic: int, mode: str, accidental: str = "") -> Key:
    """A key spelled the conventional way; `accidental` is how the caller spelled the tonic, if they did."""
    parent = (tonic - _ABOVE_PARENT_MAJOR[mode]) % 12
    sharps = _MAJOR_SHARPS[parent]
    if accidental == "#" and sharps < 0 and sharps + 12 <= 7:
        sharps += 12
    elif accidental == "b" and sharps > 0 and sharps - 12 >= -7:
        sharps -= 12
    names = FLAT_NAMES if sharps < 0 else SHARP_NAMES
    tonic_name = names[tonic]
    if accidental and len(tonic_name) == 1:
        # Spellings such as Cb or E# that the twelve-name tables cannot produce.
        letter = SHARP_NAMES[(tonic - _ACCIDENTALS[accidental]) % 12]
        if len(letter) == 1:
            tonic_name = letter + accidental
    return Key(tonic, mode, tonic_name, sharps)


def normalise_accidental(text: str) -> str:
    """'#', 'b' or '' for an accidental as written: a sign ('#', 'b', '\u266f', '\u266d') or a word ('flat')."""
    text = text.strip().lower()
    return {"\u266f": "#", "\u266d": "b", "sharp": "#", "flat": "b"}.get(text, text)


def parse_key(text: str) -> Key | None:
    """'F minor', 'Fm', 'C#m', 'Bb major', 'E flat minor', 'g dorian', 'A' (major) -> Key; None when it is not a
    key."""
    match = _KEY_TEXT.match(text)
    if match is None:
        return None
    letter, accidental, mode_word = match.groups()
    mode = MODE_WORDS.get(mode_word.lower()) if mode_word else "major"
    if mode is None:
        return None
    accidental = normalise_accidental(accidental or "")
    return make_key(pitch_class(letter, accidental), mode, accidental)


@dataclass(frozen=True)
class Chord:
    """A chord as pitch classes, root first then stacked upwards (third, fifth, seventh...); a slash chord ('G/B')
    names the pitch class its bass plays, which is then one of its tones."""

    root: int
    tones: tuple[int, ...]
    symbol: str
    bass: int | None = None  # None: the bass plays the root

    @property
    def bass_note(self) -> int:
        """The pitch class the bass line stands on."""
        return self.root if self.bass is None else self.bass


_QUALITIES: dict[tuple[int, ...], str] = {
    (4, 7): "", (3, 7): "m", (3, 6): "dim", (4, 8): "aug", (2, 7): "sus2", (5, 7): "sus4",
    (4, 7, 11): "maj7", (3, 7, 10): "m7", (4, 7, 10): "7", (3, 6, 10): "m7b5", (3, 6, 9): "dim7",
    (3, 7, 11): "m(maj7)", (4, 8, 11): "maj7#5", (4, 7, 9): "6", (3, 7, 9): "m6",
    (4, 7, 11, 2): "maj9", (3, 7, 10, 2): "m9", (4, 7, 10, 2): "9", (4, 7, 2): "add9", (3, 7, 2): "madd9",
    (7,): "5", (5, 7, 10): "7sus4",
}  # fmt: skip
_SYMBOL_QUALITIES = {name: intervals for intervals, name in _QUALITIES.items()} | {
    "min": (3, 7), "maj": (4, 7), "min7": (3, 7, 10), "M7": (4, 7, 11), "-": (3, 7), "-7": (3, 7, 10),
    "sus": (5, 7), "7sus": (5, 7, 10), "mM7": (3, 7, 11), "mmaj7": (3, 7, 11),
    "add2": (4, 7, 2),
}  # fmt: skip
_CHORD_SYMBOL = re.compile(r"^([A-G])([#b]?)([a-zA-Z0-9#()\-]*)$")


def chord_from_intervals(
    root: int, intervals: tuple[int, ...], spell: Key | None = None, *, root_name: str | None = None
) -> Chord:
    names = spell.spell if spell is not None else (lambda pc: SHARP_NAMES[pc])
    quality = _QUALITIES.get(intervals)
    quality = quality if quality is not None else "(" + ",".join(map(str, intervals)) + ")"
    return Chord(root, (root, *((root + i) % 12 for i in intervals)), (root_name or names(root)) + quality)


def diatonic_chord(key: Key, degree: int, size: int) -> Chord:
    """The chord built in thirds on a scale degree; ninths only where they are major (a b9 sounds wrong here)."""
    scale = key.scale
    root = scale[degree % 7]
    intervals = tuple((scale[(degree + 2 * i) % 7] - root) % 12 for i in range(1, size))
    if size >= 5 and intervals[3] != 2:
        intervals = intervals[:3]
    return chord_from_intervals(root, intervals, key)


# Scale degrees (0-based) whose chords share two tones with the tonic chord: iii and vi (III and VI in minor).
TONIC_SUBSTITUTES = (2, 5)
DOMINANT = 4


def opening_on_the_tonic(degrees: tuple[int, ...]) -> tuple[int, ...]:
    """A looped diatonic progression that states its key: rotated to open on the tonic chord (the same loop, so its
    last chord leads back into the tonic at every section's start); one with no tonic chord first has a tonic
    substitute made the tonic, the one after the dominant where there is one (IV V iii vi -> IV V I vi, a cadence),
    else its first substitute, else its first chord."""
    if 0 not in degrees:
        after_dominant = [i for i, d in enumerate(degrees) if d in TONIC_SUBSTITUTES and degrees[i - 1] == DOMINANT]
        substitutes = [i for i, d in enumerate(degrees) if d in TONIC_SUBSTITUTES]
        home = (after_dominant or substitutes or [0])[0]
        degrees = (*degrees[:home], 0, *degrees[home + 1 :])
    first = degrees.index(0)
    return degrees[first:] + degrees[:first]


def tonic_chord(key: Key, chords: tuple[Chord, ...]) -> Chord | None:
    """The progression's own chord on the key's tonic, if it has one."""
    return next((chord for chord in chords if chord.root == key.tonic and chord.bass is None), None)


def parse_chord_symbol(text: str, bass: str | None = None) -> Chord | None:
    """'Am', 'F#m7', 'Bbmaj7', 'Gsus4', 'C' -> Chord; with `bass` ('B' for 'G/B') a slash chord, its bass note
    added to its tones when it is not one of them already; None when the text is not a chord symbol."""
    match = _CHORD_SYMBOL.match(text)
    if match is None:
        return None
    letter, accidental, quality = match.groups()
    intervals = _SYMBOL_QUALITIES.get(quality)
    if intervals is None:
        return None
    root = pitch_class(letter, accidental)
    chord = chord_from_intervals(root, intervals)
    if bass is None:
        return Chord(chord.root, chord.tones, letter + accidental + quality)
    bass_match = _CHORD_SYMBOL.match(bass)
    if bass_match is None or bass_match.group(3):
        return None
    bass_pc = pitch_class(bass_match.group(1), bass_match.group(2))
    tones = chord.tones if bass_pc in chord.tones else (*chord.tones, bass_pc)
    return Chord(chord.root, tones, f"{letter}{accidental}{quality}/{bass}", bass_pc)


def best_key_for(chords: list[Chord]) -> Key:
    """The major or minor key whose scale holds most of the chords' tones; ties go to a key whose tonic chord
    is played (first or last chord preferred), as in 'Dm G C' -> C major but 'Am F C G' -> A minor."""
    tones = [pc for chord in chords for pc in chord.tones]
    tonics = {(chord.root, _is_minor_chord(chord)) for chord in chords}

    def score(key: Key) -> tuple[int, bool, bool, bool]:
        scale = set(key.scale)
        fits = sum(pc in scale for pc in tones)
        home = (key.tonic, key.is_minor)
        first, last = chords[0], chords[-1]
        return fits, home in tonics, home == (first.root, _is_minor_chord(first)), key.tonic == last.root

    candidates = [make_key(tonic, mode) for tonic in range(12) for mode in ("major", "minor")]
    return max(candidates, key=score)


def _is_minor_chord(chord: Chord) -> bool:
    return len(chord.tones) > 1 and (chord.tones[1] - chord.root) % 12 == 3

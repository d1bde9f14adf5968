"""Roman-numeral chords ('i', 'VI', 'bVII', 'V7', 'vii°'): read from a prompt, realised as chords in a key.

Upper case is a major chord, lower case a minor one; '°'/'o'/'dim' diminished, 'ø' half-diminished, '+'/'aug'
augmented. A plain numeral stands on the key's own scale degree (VI in C minor is Ab); a flat or sharp alters the
degree of the parallel major scale (bVI is Ab in C major and in C minor alike)."""

import re
from dataclasses import dataclass

from composer.theory import FLAT_NAMES, MODES, SHARP_NAMES, Chord, Key, chord_from_intervals, make_key

_DEGREES = {"i": 0, "ii": 1, "iii": 2, "iv": 3, "v": 4, "vi": 5, "vii": 6}
# (upper case, suffix) -> intervals above the root; only qualities the chord vocabulary can name.
_QUALITIES: dict[tuple[bool, str], tuple[int, ...]] = {
    (True, ""): (4, 7), (False, ""): (3, 7),
    (True, "7"): (4, 7, 10), (False, "7"): (3, 7, 10),
    (True, "maj7"): (4, 7, 11), (False, "maj7"): (3, 7, 11),
    (True, "9"): (4, 7, 10, 2), (False, "9"): (3, 7, 10, 2), (True, "maj9"): (4, 7, 11, 2),
    (True, "6"): (4, 7, 9), (False, "6"): (3, 7, 9),
    (True, "add9"): (4, 7, 2), (False, "add9"): (3, 7, 2),
    (True, "sus2"): (2, 7), (True, "sus4"): (5, 7),
    (False, "dim"): (3, 6), (False, "dim7"): (3, 6, 9), (False, "m7b5"): (3, 6, 10),
    (True, "dim"): (3, 6), (True, "dim7"): (3, 6, 9), (True, "m7b5"): (3, 6, 10),
    (True, "aug"): (4, 8),
}  # fmt: skip
_SUFFIX_SPELLINGS = {
    "M7": "maj7", "\u00b0": "dim", "o": "dim", "\u00b07": "dim7", "o7": "dim7", "\u00f8": "m7b5", "\u00f87": "m7b5",
    "+": "aug",
}  # fmt: skip
_SUFFIXES = sorted({suffix for _, suffix in _QUALITIES if suffix} | set(_SUFFIX_SPELLINGS), key=len, reverse=True)
NUMERAL = re.compile(
    r"(?<![\w#&'\u266f\u266d])([b#\u266d\u266f]?)(vii|VII|iii|III|vi|VI|iv|IV|ii|II|v|V|i|I)("
    + "|".join(re.escape(suffix) for suffix in _SUFFIXES)
    + r")?(?![\w#&'+\u00b0\u00f8\u266f\u266d])"
)


@dataclass(frozen=True)
class Numeral:
    degree: int  # 0 = tonic .. 6
    alteration: int  # -1 flat, 0 the key's own degree, +1 sharp
    intervals: tuple[int, ...]  # above the root
    text: str


def parse_numeral(match: re.Match[str]) -> Numeral | None:
    """A NUMERAL match as a Numeral; None for a combination with no chord name ('ivsus4', 'Vdim')."""
    accidental, numeral, suffix = match.group(1), match.group(2), match.group(3) or ""
    quality = _QUALITIES.get((numeral.isupper(), _SUFFIX_SPELLINGS.get(suffix, suffix)))
    if quality is None:
        return None
    alteration = {"": 0, "b": -1, "\u266d": -1, "#": 1, "\u266f": 1}[accidental]
    return Numeral(_DEGREES[numeral.lower()], alteration, quality, match.group())


def realise(numeral: Numeral, key: Key) -> Chord:
    """The chord the numeral names in this key, spelled as the key spells it (an altered root as written)."""
    if numeral.alteration:
        root = (key.tonic + MODES["major"][numeral.degree] + numeral.alteration) % 12
        name = (FLAT_NAMES if numeral.alteration < 0 else SHARP_NAMES)[root]
    else:
        root = key.scale[numeral.degree]
        if numeral.degree == 6 and numeral.intervals[:2] == (3, 6) and (root - key.tonic) % 12 == 10:
            root = (key.tonic + 11) % 12  # vii° in a minor key is built on the raised leading tone
        name = key.spell(root)
    return chord_from_intervals(root, numeral.intervals, root_name=name)


def implied_mode(numerals: tuple[Numeral, ...]) -> str | None:
    """'minor' or 'major' as the numerals imply it: from a tonic chord's third, else from which key's scale holds
    more of the chords; None when there are no numerals or they fit both alike."""
    tonic = next((n for n in numerals if n.degree == 0 and not n.alteration), None)
    if tonic is not None:
        return "minor" if tonic.intervals[0] == 3 else "major"
    fits = {
        mode: sum(set(realise(n, make_key(0, mode)).tones) <= set(MODES[mode]) for n in numerals)
        for mode in ("major", "minor")
    }
    if fits["major"] == fits["minor"]:
        return None
    return max(fits, key=lambda mode: fits[mode])

"""Tempo words: Italian markings (a tempo each) and plain English ("slow", "very fast": a range each).

Captions write a song's tempo as these words by MidiCaps' bins (Grave up to 40 BPM, Largo to 60, Adagio to 70, Andante
to 90, Moderato to 110, Allegro to 140, Vivace to 160, Presto to 210, Prestissimo above; Slow up to 80, Moderate to
120, Fast to 160, Very fast above), and musicians by Wikipedia's "Tempo" table (Moderato 108-120, Allegro 120-156...).
Each marking's tempo lies in both readings of the word where they meet, so either reading holds it."""

from dataclasses import dataclass

from composer.request import MIN_BPM

TEMPO_MARKINGS = {
    "larghissimo": float(MIN_BPM),
    "grave": float(MIN_BPM),
    "largo": 50.0,
    "lento": 52.0,
    "larghetto": 63.0,
    "adagio": 68.0,
    "adagietto": 74.0,
    "andante": 84.0,
    "andantino": 94.0,
    "andante moderato": 95.0,
    "moderato": 109.0,
    "allegretto": 116.0,
    "allegro moderato": 118.0,
    "allegro": 130.0,
    "vivace": 158.0,
    "vivacissimo": 174.0,
    "allegrissimo": 174.0,
    "allegro vivace": 174.0,
    "presto": 184.0,
    "prestissimo": 220.0,
}


@dataclass(frozen=True)
class TempoWord:
    """A plain word for a range of tempos: the genre's own tempo (its slow, usual or fast one, as `leaning` says)
    moved into the range by doubling or halving, as a drummer plays half or double time, else the range's nearest
    tempo."""

    low: float  # exclusive
    high: float  # inclusive
    leaning: int  # -1 start from the genre's slow tempo, 0 its usual one, +1 its fast one

    def fit(self, bpm: float) -> float:
        for factor in (1.0, 0.5, 2.0, 0.25, 4.0):
            if self.low < bpm * factor <= self.high:
                return bpm * factor
        return min(max(bpm, self.low + 1), self.high)


_VERY_SLOW = TempoWord(MIN_BPM - 1, 60, -1)
_SLOW = TempoWord(MIN_BPM - 1, 80, -1)
_MODERATE = TempoWord(80, 120, 0)
_FAST = TempoWord(120, 160, 1)
_VERY_FAST = TempoWord(160, 210, 1)
TEMPO_WORDS = {
    "very slow": _VERY_SLOW, "extremely slow": _VERY_SLOW,
    "slow": _SLOW, "slowly": _SLOW,
    "moderate": _MODERATE, "moderately": _MODERATE, "medium": _MODERATE, "mid tempo": _MODERATE,
    "midtempo": _MODERATE,
    "fast": _FAST, "quick": _FAST, "quickly": _FAST,
    "very fast": _VERY_FAST, "extremely fast": _VERY_FAST, "really fast": _VERY_FAST, "super fast": _VERY_FAST,
}  # fmt: skip

"""Whether a song's notes state its key as a listener hears it, and a tonic pedal where they do not.

A listener (and key-finding software: music21's analysis, which text-to-MIDI captions are written from) weighs each
pitch class by how long it sounds against a key profile: how strongly each scale degree belongs to a key. A loop that
dwells on the relative major's chords (i-bVI-bVII, much of rock and trance) or on the subdominant is then heard in
that key rather than the one it was written in. Where that happens, the accompaniment holds the tonic and its fifth
(then, if the mode is still in doubt, its third) under its chords, as a pedal point: every chord of the key sounds
over it as one of its colours (bVI over the tonic is a major seventh chord, bVII an added sixth), nothing leaves the
scale, and the tonic is heard as home."""

from collections.abc import Mapping, Sequence

from composer.score import Part
from composer.theory import Key

# Key profiles (probe-tone ratings, and degree frequencies in folk melodies), from the tonic up: both listeners'
# judgements and the corpus statistics that key-finding software correlates a song's notes with.
KRUMHANSL_KESSLER: dict[str, tuple[float, ...]] = {
    "major": (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
    "minor": (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
}
AARDEN_ESSEN: dict[str, tuple[float, ...]] = {
    "major": (17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624, 8.15494, 0.232998,
              4.95122),
    "minor": (18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621, 1.93186, 7.37619,
              1.75623),
}  # fmt: skip
PROFILES = (KRUMHANSL_KESSLER, AARDEN_ESSEN)
MARGIN = 0.005  # how much better than any other key the song's own must correlate: no coin toss


def durations(parts: Sequence[Part]) -> list[float]:
    """How long each pitch class sounds in the parts, in ticks."""
    weights = [0.0] * 12
    for part in parts:
        for _, length, pitch, _ in part.notes:
            weights[pitch % 12] += max(length, 0)
    return weights


def _correlation(xs: Sequence[float], ys: Sequence[float]) -> float:
    mean_x, mean_y = sum(xs) / 12, sum(ys) / 12
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    spread = (sum((x - mean_x) ** 2 for x in xs) * sum((y - mean_y) ** 2 for y in ys)) ** 0.5
    return covariance / spread if spread else 0.0


def heard(weights: Sequence[float], profile: Mapping[str, Sequence[float]]) -> list[tuple[float, int, str]]:
    """Every major and minor key as (correlation, tonic, mode), the key the notes state best first."""
    keys = []
    for mode, ratings in profile.items():
        for tonic in range(12):
            rotated = [ratings[(pc - tonic) % 12] for pc in range(12)]
            keys.append((_correlation(weights, rotated), tonic, mode))
    return sorted(keys, reverse=True)


def states(weights: Sequence[float], key: Key) -> bool:
    """Whether every profile hears the key first, by a margin; a key in another mode (dorian...) has no profile of
    its own, and is judged as the major or minor key it leans to."""
    mode = "minor" if key.minor_like else "major"
    for profile in PROFILES:
        ranked = heard(weights, profile)
        own = next(score for score, tonic, found in ranked if (tonic, found) == (key.tonic, mode))
        rival = next(score for score, tonic, found in ranked if (tonic, found) != (key.tonic, mode))
        if own < rival + MARGIN:
            return False
    return True


def add_pedal(part: Part, key: Key, bar_ticks: int, bars: int, degrees: tuple[int, ...] = (0, 4)) -> None:
    """Scale degrees (the tonic and its fifth; the third to tell major from minor) held at the bottom of the part's
    register through each bar it plays, softer than the part; where the part already sounds one of those
    pitches, the pedal leaves it."""
    playing = sorted({start // bar_ticks for start, _, _, _ in part.notes if start // bar_ticks < bars})
    if not playing:
        return
    lowest = min(pitch for _, _, pitch, _ in part.notes)
    tonic = lowest + (key.tonic - lowest) % 12  # at the bottom of the part's own register
    velocity = max(1, int(0.8 * sum(note[3] for note in part.notes) / len(part.notes)))
    sounding: dict[int, list[tuple[int, int]]] = {}
    for start, length, pitch, _ in part.notes:
        sounding.setdefault(pitch, []).append((start, start + length))

    def free(pitch: int, start: int, end: int) -> bool:
        return not any(s < end and e > start for s, e in sounding.get(pitch, ()))

    for bar in playing:  # struck again every bar: a piano's or guitar's pedal would die away over a longer one
        start, end = bar * bar_ticks, (bar + 1) * bar_ticks
        for degree in degrees:
            pitch = key.degree_pitch(degree, tonic)
            held = next((pitch + octave for octave in (0, 12, -12) if free(pitch + octave, start, end)), None)
            if held is not None:
                part.note(start, end - start - 8, held, velocity)

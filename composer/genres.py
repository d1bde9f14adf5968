"""The genres the composer knows: tempo and key conventions, harmony, form, instrumentation and part styles."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from composer.instruments import Role

Form = Literal["beat", "club", "song", "ambient"]
BassStyle = Literal["808", "kick_locked", "walking", "offbeat", "rolling", "wobble", "reese", "pulse", "sustain"]
ChordStyle = Literal["sustain", "strum", "stabs", "chops", "supersaw", "comp", "pad"]
LeadStyle = Literal["bells", "lazy", "pluck", "acid", "hook", "slow"]

# Diatonic progressions as 0-based scale degrees, for minor-like and major-like keys.
MINOR_POP = ((0, 5, 2, 6), (0, 5, 3, 6), (5, 6, 0, 0), (0, 3, 5, 4))
MAJOR_POP = ((0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4), (3, 4, 2, 5))
MINOR_DARK = ((0, 5, 0, 5), (0, 3, 0, 5), (0, 6, 5, 6), (0, 0, 5, 4))
MINOR_JAZZY = ((0, 3, 6, 2), (3, 4, 0, 0), (0, 3, 0, 5), (5, 1, 4, 0))
MAJOR_JAZZY = ((1, 4, 0, 5), (0, 5, 1, 4), (3, 2, 1, 0), (3, 4, 2, 5))
# Other modes sit on their colour chord: Dorian's IV, Phrygian's bII, Lydian's II, Mixolydian's bVII.
MODE_VAMPS: dict[str, tuple[tuple[int, ...], ...]] = {
    "dorian": ((0, 3), (0, 3, 0, 6)),
    "phrygian": ((0, 1), (0, 1, 6, 0)),
    "lydian": ((0, 1), (0, 1, 4, 0)),
    "mixolydian": ((0, 6, 3, 0), (0, 6)),
    "locrian": ((0, 1, 0, 5),),
}


@dataclass(frozen=True)
class Genre:
    name: str
    phrases: tuple[str, ...]  # how prompts name it: lower case, hyphens as spaces
    bpm: float
    slow_fast: tuple[float, float]  # tempos for "slow"/"fast" prompts, within the genre's convention
    mode: str
    tonics: tuple[str, ...]  # the usual keys; the seed picks one when the prompt gives none
    minor_progressions: tuple[tuple[int, ...], ...]
    major_progressions: tuple[tuple[int, ...], ...]
    chord_size: int  # 3 triads, 4 sevenths, 5 ninths
    bars_per_chord: int
    default_bars: int
    form: Form
    swing: float  # share of an eighth the first sixteenth takes: 0.5 straight, 0.6 lazy
    humanize: int  # most ticks a hit may drift off the grid
    instruments: Mapping[Role, int]  # the roles the genre uses and their default GM programs
    bass: BassStyle
    chords: ChordStyle
    lead: LeadStyle
    lead_center: int  # MIDI pitch the melody moves around
    time_signature: str = "4/4"


GENRES: tuple[Genre, ...] = (
    Genre(
        name="trap",
        phrases=("trap", "trap beat", "atl"),
        bpm=140,
        slow_fast=(130, 160),
        mode="minor",
        tonics=("F", "C#", "G", "A", "D"),
        minor_progressions=MINOR_DARK + MINOR_POP[:2],
        major_progressions=MAJOR_POP,
        chord_size=3,
        bars_per_chord=1,
        default_bars=16,
        form="beat",
        swing=0.5,
        humanize=3,
        instruments={"drums": 25, "bass": 38, "chords": 48, "lead": 10},
        bass="808",
        chords="sustain",
        lead="bells",
        lead_center=72,
    ),
    Genre(
        name="drill",
        phrases=("drill", "uk drill", "ny drill", "brooklyn drill"),
        bpm=142,
        slow_fast=(138, 146),
        mode="minor",
        tonics=("C#", "F#", "D", "G#", "A"),
        minor_progressions=MINOR_DARK,
        major_progressions=MAJOR_POP,
        chord_size=3,
        bars_per_chord=1,
        default_bars=16,
        form="beat",
        swing=0.5,
        humanize=3,
        instruments={"drums": 25, "bass": 38, "chords": 49, "lead": 0},
        bass="808",
        chords="sustain",
        lead="bells",
        lead_center=70,
    ),
    Genre(
        name="boom bap",
        phrases=("boom bap", "boombap", "hip hop", "hiphop", "rap", "old school", "90s hip hop"),
        bpm=90,
        slow_fast=(84, 96),
        mode="minor",
        tonics=("A", "D", "E", "C", "G"),
        minor_progressions=MINOR_JAZZY,
        major_progressions=MAJOR_JAZZY,
        chord_size=4,
        bars_per_chord=1,
        default_bars=16,
        form="beat",
        swing=0.58,
        humanize=8,
        instruments={"drums": 8, "bass": 33, "chords": 4, "lead": 61},
        bass="kick_locked",
        chords="chops",
        lead="hook",
        lead_center=67,
    ),
    Genre(
        name="lo-fi hip-hop",
        phrases=("lofi", "lo fi", "lofi hip hop", "lo fi hip hop", "chillhop", "study beats", "chill hop"),
        bpm=80,
        slow_fast=(70, 90),
        mode="major",
        tonics=("F", "Eb", "C", "D", "A"),
        minor_progressions=MINOR_JAZZY,
        major_progressions=MAJOR_JAZZY,
        chord_size=5,
        bars_per_chord=1,
        default_bars=16,
        form="beat",
        swing=0.62,
        humanize=12,
        instruments={"drums": 32, "bass": 32, "chords": 4, "lead": 11, "pad": 89, "fx": 96},
        bass="walking",
        chords="strum",
        lead="lazy",
        lead_center=67,
    ),
    Genre(
        name="house",
        phrases=("house", "deep house", "four on the floor", "4 on the floor", "disco house", "garage"),
        bpm=124,
        slow_fast=(120, 128),
        mode="minor",
        tonics=("A", "F", "G", "C", "D"),
        minor_progressions=MINOR_POP,
        major_progressions=MAJOR_POP,
        chord_size=4,
        bars_per_chord=1,
        default_bars=16,
        form="club",
        swing=0.54,
        humanize=2,
        instruments={"drums": 25, "bass": 38, "chords": 0, "lead": 81, "pad": 89, "fx": 119},
        bass="offbeat",
        chords="stabs",
        lead="pluck",
        lead_center=72,
    ),
    Genre(
        name="techno",
        phrases=("techno", "minimal techno", "industrial techno", "detroit techno", "hard techno", "rave"),
        bpm=130,
        slow_fast=(125, 135),
        mode="minor",
        tonics=("A", "F", "D", "E", "G"),
        minor_progressions=MINOR_DARK,
        major_progressions=MAJOR_POP,
        chord_size=3,
        bars_per_chord=2,
        default_bars=16,
        form="club",
        swing=0.5,
        humanize=1,
        instruments={"drums": 24, "bass": 39, "chords": 90, "lead": 87, "pad": 95, "fx": 119},
        bass="rolling",
        chords="stabs",
        lead="acid",
        lead_center=55,
    ),
    Genre(
        name="dubstep",
        phrases=("dubstep", "brostep", "riddim", "wobble dubstep"),
        bpm=140,
        slow_fast=(138, 150),
        mode="minor",
        tonics=("F", "E", "G", "D", "C#"),
        minor_progressions=MINOR_DARK,
        major_progressions=MAJOR_POP,
        chord_size=3,
        bars_per_chord=2,
        default_bars=16,
        form="club",
        swing=0.5,
        humanize=2,
        instruments={"drums": 24, "bass": 87, "chords": 90, "lead": 81, "pad": 94, "fx": 119},
        bass="wobble",
        chords="pad",
        lead="hook",
        lead_center=72,
    ),
    Genre(
        name="future bass",
        phrases=("future bass", "melodic bass", "kawaii"),
        bpm=150,
        slow_fast=(140, 160),
        mode="major",
        tonics=("F", "G", "D", "A", "Eb"),
        minor_progressions=MINOR_POP,
        major_progressions=MAJOR_POP,
        chord_size=5,
        bars_per_chord=1,
        default_bars=16,
        form="club",
        swing=0.5,
        humanize=2,
        instruments={"drums": 24, "bass": 38, "chords": 81, "lead": 80, "pad": 89, "fx": 119},
        bass="pulse",
        chords="supersaw",
        lead="pluck",
        lead_center=74,
    ),
    Genre(
        name="drum and bass",
        phrases=(
            "drum and bass",
            "drum n bass",
            "drum & bass",
            "drum'n'bass",
            "dnb",
            "d&b",
            "jungle",
            "liquid",
            "liquid dnb",
            "neurofunk",
        ),
        bpm=174,
        slow_fast=(170, 176),
        mode="minor",
        tonics=("F", "D", "E", "G", "A"),
        minor_progressions=MINOR_POP + MINOR_DARK[:2],
        major_progressions=MAJOR_POP,
        chord_size=4,
        bars_per_chord=2,
        default_bars=16,
        form="club",
        swing=0.5,
        humanize=2,
        instruments={"drums": 8, "bass": 39, "chords": 50, "lead": 81, "pad": 94, "fx": 119},
        bass="reese",
        chords="pad",
        lead="hook",
        lead_center=72,
    ),
    Genre(
        name="pop",
        phrases=("pop", "synthpop", "synth pop", "electropop", "dance pop", "indie pop"),
        bpm=116,
        slow_fast=(100, 128),
        mode="major",
        tonics=("C", "G", "D", "A", "E"),
        minor_progressions=MINOR_POP,
        major_progressions=MAJOR_POP,
        chord_size=3,
        bars_per_chord=1,
        default_bars=16,
        form="song",
        swing=0.5,
        humanize=3,
        instruments={"drums": 0, "bass": 33, "chords": 0, "lead": 80, "pad": 48},
        bass="pulse",
        chords="comp",
        lead="hook",
        lead_center=69,
    ),
    Genre(
        name="ambient",
        phrases=("ambient", "drone", "soundscape", "atmospheric", "meditation", "new age"),
        bpm=70,
        slow_fast=(60, 80),
        mode="major",
        tonics=("D", "E", "C", "A", "F"),
        minor_progressions=MINOR_POP,
        major_progressions=MAJOR_POP,
        chord_size=5,
        bars_per_chord=2,
        default_bars=16,
        form="ambient",
        swing=0.5,
        humanize=10,
        instruments={"drums": 0, "bass": 38, "chords": 88, "lead": 10, "pad": 94, "fx": 122},
        bass="sustain",
        chords="pad",
        lead="slow",
        lead_center=76,
    ),
)
GENRES_BY_NAME = {genre.name: genre for genre in GENRES}
DEFAULT_GENRE = GENRES_BY_NAME["pop"]


# One prompt per genre, as producers write them: the tempo test and the composer benchmark use these.
EXAMPLE_PROMPTS: dict[str, str] = {
    "trap": "trap beat with 808 bass and sharp hi-hats, 140 BPM, F minor",
    "drill": "dark drill beat, 142 BPM, G minor, sliding 808s",
    "boom bap": "boom bap 90 with jazz piano",
    "lo-fi hip-hop": "lofi hip hop with jazzy rhodes and vinyl swing at 85",
    "house": "house 125 with 909 drums, Am Dm G C",
    "techno": "techno 132 dark warehouse",
    "dubstep": "dubstep drop wobble bass 140",
    "future bass": "future bass 145 in A minor",
    "drum and bass": "drum and bass 174 amen break",
    "pop": "upbeat pop 118 in C major",
    "ambient": "ambient pad with soft drums, 70 bpm, D major",
}

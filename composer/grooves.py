"""Drum parts: each genre's signature groove on a sixteenth grid, trap hat rolls, fills, builds and crashes.

In 4/4 every genre plays its own patterns; in other meters its drum sounds keep their roles (kick, backbeat,
time-keeping hats, ...) and play that meter's patterns: hand-tuned for the common meters, made from the meter's
pulses for the rest."""

import random
from dataclasses import dataclass
from functools import cache

from composer.arrange import Section, plays
from composer.genres import Genre
from composer.instruments import (
    CLAP,
    CLOSED_HAT,
    CRASH,
    HIGH_TOM,
    KICK,
    LOW_TOM,
    MID_TOM,
    OPEN_HAT,
    PEDAL_HAT,
    RIDE,
    RIM,
    SHAKER,
    SNARE,
    TAMBOURINE,
)  # fmt: skip
from composer.score import COMMON_TIME, STEP, Feel, Meter, Part

HIT = 60  # drum notes are short; the synthesizer lets them ring
FILL_STEPS = 4  # a fill replaces the last quarter note of a phrase


@dataclass(frozen=True)
class Voice:
    """One drum sound's pattern: bars of sixteenth steps cycled ('X' accent, 'x' hit, 'o' ghost), from an energy up."""

    pitch: int
    bars: tuple[str, ...]
    velocity: int
    min_energy: float = 0.5


@dataclass(frozen=True)
class Groove:
    voices: tuple[Voice, ...]
    fill: tuple[tuple[int, str], ...] = ()  # the last FILL_STEPS steps of a phrase: (pitch, a mark per step)
    trap_hats: bool = False  # generated sixteenth hats with 1/32 rolls and triplets
    crash: bool = True


FOUR_ON_FLOOR = "x...x...x...x..."
BACKBEAT = "....x.......x..."
HALF_TIME = "........x......."
OFFBEATS = "..x...x...x...x."
EIGHTHS = "x.x.x.x.x.x.x.x."

GROOVES: dict[str, Groove] = {
    "trap": Groove(
        (
            Voice(KICK, ("x......x..x.....", "x.....x...x..x..", "x......x..x..x..", "x.x.......x....."), 118),
            Voice(CLAP, (HALF_TIME,), 112),
            Voice(SNARE, (HALF_TIME,), 96),
            Voice(OPEN_HAT, ("................", "..............x."), 78, 0.8),
        ),
        trap_hats=True,
        crash=False,
    ),
    "drill": Groove(
        (
            Voice(KICK, ("x.........x.....", "..x.......x..x..", "x.........x.....", "x.x.........x..."), 118),
            Voice(SNARE, ("........x....x..", "........x.......", "........x....x..", "...x....x......x"), 112),
            Voice(CLAP, (HALF_TIME,), 100),
            # Eighths accented on the beat: the sway is the kick's and snare's; the hats keep a pulse a listener (or
            # a beat tracker) can find.
            Voice(CLOSED_HAT, ("X.x.X.x.X.x.X.x.", "X.x.X.x.X.x.Xxxx"), 84),
            Voice(OPEN_HAT, ("................", "......x........."), 74, 0.8),
        ),
        crash=False,
    ),
    "boom bap": Groove(
        (
            Voice(KICK, ("x.......x.x.....", "x..x......x..x..", "x.......x.x.....", "x......xx.....x."), 108),
            Voice(SNARE, ("....X.......X...", "....X.......X..o"), 104),
            Voice(CLOSED_HAT, ("x.x.x.xox.x.x.x.", "x.x.x.x.x.x.x.xo"), 78),
            Voice(OPEN_HAT, ("................", "..............x."), 70, 0.8),
        ),
        fill=((SNARE, ".o.x"), (KICK, "..x.")),
        crash=False,
    ),
    "lo-fi hip-hop": Groove(
        (
            Voice(KICK, ("x.......x.x.....", "x.........x..x.."), 92),
            Voice(SNARE, (BACKBEAT,), 84),
            Voice(RIM, ("..........o.....", "......o........."), 70, 0.8),
            Voice(CLOSED_HAT, ("x.xox.x.x.xox.x.", "x.x.x.xox.x.x.x."), 64),
        ),
        crash=False,
    ),
    "house": Groove(
        (
            Voice(KICK, (FOUR_ON_FLOOR,), 118, 0.2),
            Voice(CLAP, (BACKBEAT,), 104),
            Voice(OPEN_HAT, (OFFBEATS,), 88, 0.3),
            Voice(CLOSED_HAT, (".o.o.o.o.o.o.o.o",), 84, 0.6),
            Voice(TAMBOURINE, (BACKBEAT,), 66, 0.9),
        ),
        fill=((CLAP, "x.xx"),),
    ),
    "techno": Groove(
        (
            Voice(KICK, (FOUR_ON_FLOOR,), 122, 0.2),
            Voice(OPEN_HAT, (OFFBEATS,), 84, 0.3),
            Voice(CLOSED_HAT, ("xx.xxx.xxx.xxx.x",), 66, 0.6),
            Voice(RIM, ("...x..x....x..x.", "...x..x.....x.x."), 80, 0.55),
            Voice(CLAP, (BACKBEAT,), 92, 0.9),
        ),
        fill=((RIM, "xxxx"),),
    ),
    "dubstep": Groove(
        (
            Voice(KICK, ("x.........x.....", "x.....x.......x.", "x.........x.x...", "x.x...x........."), 122),
            Voice(SNARE, ("........X.......",), 118),
            Voice(CLAP, (HALF_TIME,), 104),
            Voice(CLOSED_HAT, (EIGHTHS,), 80, 0.2),
            Voice(OPEN_HAT, ("......x.......x.",), 76, 0.8),
        ),
        fill=((SNARE, "x.xx"),),
    ),
    "future bass": Groove(
        (
            Voice(KICK, ("x.....x...x.....", "x.........x..x.."), 116),
            Voice(CLAP, ("........X.......",), 114),
            Voice(SNARE, (HALF_TIME,), 96),
            # Accented on the beat: against syncopated kicks and 3-3-2 chord stabs the hats carry the pulse.
            Voice(CLOSED_HAT, ("X.x.X.x.X.x.X.xx", "X.x.X.x.X.x.Xxx."), 80, 0.2),
        ),
        fill=((SNARE, "xxxx"),),
    ),
    "drum and bass": Groove(
        (
            Voice(KICK, ("x.........x.....", "x.........x.....", "x.x.......x.....", "x.........xx...."), 116),
            Voice(SNARE, ("....X..o.o..X..o", "....X.......X...", "....X..o.o..X...", ".o..X.......X.o."), 114),
            Voice(CLOSED_HAT, (EIGHTHS,), 76, 0.2),
            Voice(OPEN_HAT, ("..............x.",), 74, 0.8),
        ),
        fill=((SNARE, "xoxx"),),
    ),
    "pop": Groove(
        (
            Voice(KICK, ("x.......x.......", "x.......x.x....."), 110),
            Voice(SNARE, (BACKBEAT,), 104),
            Voice(CLAP, (BACKBEAT,), 92, 0.8),
            Voice(CLOSED_HAT, (EIGHTHS,), 74, 0.3),
            Voice(TAMBOURINE, (OFFBEATS,), 58, 0.8),
        ),
        fill=((HIGH_TOM, "x..."), (MID_TOM, ".x.."), (LOW_TOM, "..x."), (SNARE, "...x")),
    ),
    "ambient": Groove(
        (
            Voice(KICK, ("x...............", "................"), 64, 0.45),
            Voice(RIM, ("..........x.....", "......x........."), 46, 0.45),
            Voice(SHAKER, (OFFBEATS,), 42, 0.45),
        ),
        crash=False,
    ),
    "electronic": Groove(
        (
            Voice(KICK, (FOUR_ON_FLOOR, "x.....x...x....."), 116, 0.2),
            Voice(CLAP, (BACKBEAT,), 100),
            Voice(CLOSED_HAT, ("X.x.X.x.X.x.X.x.", "X.x.X.x.X.x.Xxxx"), 74, 0.3),
            Voice(OPEN_HAT, (OFFBEATS,), 78, 0.8),
        ),
        fill=((CLAP, "x.xx"),),
    ),
    # The orchestra's bass drum: a hit on each bar's downbeat where the music swells.
    "classical": Groove((Voice(KICK, ("x...............",), 72, 0.8),), crash=False),
    # Concert bass drum and snare hits, the timpani-like weight of a film score, a crash into the peaks.
    "soundtrack": Groove(
        (
            Voice(KICK, ("x.......x.......", "x.........x....."), 104, 0.5),
            Voice(SNARE, ("............x...", "..........x.x..."), 84, 0.85),
        ),
        fill=((SNARE, "xxxx"),),
    ),
    "rock": Groove(
        (
            Voice(KICK, ("x.......x.x.....", "x.x.....x......."), 112),
            Voice(SNARE, (BACKBEAT,), 108),
            Voice(CLOSED_HAT, ("X.x.X.x.X.x.X.x.",), 80, 0.3),
            Voice(OPEN_HAT, ("................", "..............x."), 76, 0.8),
        ),
        fill=((HIGH_TOM, "x..."), (MID_TOM, ".x.."), (LOW_TOM, "..x."), (SNARE, "...x")),
    ),
    # Double-kick eighths and sixteenths under a backbeat.
    "metal": Groove(
        (
            Voice(KICK, ("x.x.x.x.x.x.x.x.", "xxx.x.x.xxx.x.x."), 118),
            Voice(SNARE, (BACKBEAT,), 116),
            Voice(CLOSED_HAT, ("X.x.X.x.X.x.X.x.",), 86, 0.3),
        ),
        fill=((SNARE, "xxxx"),),
    ),
    # A ride pattern (on the jazz kit's hats), a feathered kick and snare comping.
    "jazz": Groove(
        (
            Voice(CLOSED_HAT, ("X...X.x.X...X.x.",), 80),
            Voice(KICK, ("x...x...x...x...",), 56),
            Voice(SNARE, ("......o.......o.", "..o.......o....."), 62, 0.6),
        ),
        crash=False,
    ),
    # A dotted shuffle on the hats over kick on one and three, snare on two and four.
    "blues": Groove(
        (
            Voice(KICK, ("x.......x.......", "x.......x..x...."), 100),
            Voice(SNARE, (BACKBEAT,), 98),
            Voice(CLOSED_HAT, ("x..xx..xx..xx..x",), 72, 0.3),
        ),
        fill=((SNARE, "x.xx"),),
        crash=False,
    ),
    "country": Groove(
        (
            Voice(KICK, ("x.......x.......",), 100),
            Voice(SNARE, (BACKBEAT,), 94),
            Voice(CLOSED_HAT, (EIGHTHS,), 70, 0.3),
        ),
        fill=((SNARE, "x.xx"),),
    ),
    "folk": Groove(
        (
            Voice(KICK, ("x.......x.......",), 84),
            Voice(TAMBOURINE, (BACKBEAT,), 66, 0.5),
            Voice(SHAKER, (EIGHTHS,), 50, 0.6),
        ),
        crash=False,
    ),
    # The one drop: kick and cross-stick together on beat three only.
    "reggae": Groove(
        (
            Voice(KICK, ("........x.......",), 104),
            Voice(RIM, ("........x.......",), 96),
            Voice(CLOSED_HAT, (EIGHTHS,), 66),
            Voice(OPEN_HAT, ("..............x.",), 70, 0.8),
        ),
        fill=((SNARE, "..xx"),),
        crash=False,
    ),
    "funk": Groove(
        (
            Voice(KICK, ("x..x..x...x..x..", "x.x...x...x..x.."), 112),
            Voice(SNARE, ("....X..o.o..X..o", "....X.o.....X.o."), 106),
            Voice(CLOSED_HAT, ("xoxoxoxoxoxoxoxo",), 78),
            Voice(OPEN_HAT, ("................", "..............x."), 72, 0.8),
        ),
        fill=((SNARE, "xoxx"),),
    ),
    "r&b": Groove(
        (
            Voice(KICK, ("x......x..x.....", "x.........x..x.."), 100),
            Voice(SNARE, (BACKBEAT,), 92),
            Voice(CLAP, (BACKBEAT,), 80, 0.8),
            Voice(CLOSED_HAT, ("x.x.x.x.x.x.x.xx", "x.x.x.x.x.x.x.x."), 64),
        ),
        crash=False,
    ),
    "soul": Groove(
        (
            Voice(KICK, ("x.......x.x.....", "x..x....x......."), 104),
            Voice(SNARE, (BACKBEAT,), 100),
            Voice(TAMBOURINE, (BACKBEAT,), 70, 0.6),
            Voice(CLOSED_HAT, (EIGHTHS,), 70, 0.3),
        ),
        fill=((HIGH_TOM, "x..."), (MID_TOM, ".x.."), (LOW_TOM, "..x."), (SNARE, "...x")),
    ),
    "disco": Groove(
        (
            Voice(KICK, (FOUR_ON_FLOOR,), 116, 0.2),
            Voice(SNARE, (BACKBEAT,), 100),
            Voice(OPEN_HAT, (OFFBEATS,), 86, 0.3),
            Voice(CLOSED_HAT, ("x...x...x...x...",), 70, 0.6),
        ),
        fill=((SNARE, "x.xx"),),
    ),
    "trance": Groove(
        (
            Voice(KICK, (FOUR_ON_FLOOR,), 122, 0.2),
            Voice(OPEN_HAT, (OFFBEATS,), 88, 0.3),
            Voice(CLOSED_HAT, ("x.xxx.xxx.xxx.xx",), 62, 0.6),
            Voice(CLAP, (BACKBEAT,), 96, 0.6),
        ),
        fill=((SNARE, "xxxx"),),
    ),
    # A son clave on the rim over an anticipated kick.
    "latin": Groove(
        (
            Voice(KICK, ("x..x....x..x....",), 96),
            Voice(RIM, ("x..x..x...x.x...", "..x.x...x..x..x."), 90),
            Voice(SHAKER, (EIGHTHS,), 58),
        ),
        fill=((HIGH_TOM, "x.x."), (LOW_TOM, ".x.x")),
        crash=False,
    ),
    # The bossa nova's dotted kick and its cross-stick clave, soft brushes.
    "bossa nova": Groove(
        (
            Voice(KICK, ("x..xx..xx..xx..x",), 72),
            Voice(RIM, ("x..x..x...x..x..", "..x..x..x...x..."), 82),
            Voice(CLOSED_HAT, ("X.x.X.x.X.x.X.x.",), 58),
        ),
        crash=False,
    ),
    # Oom-pah-pah in 3/4 (the meter's own pattern); in 4/4 a light backbeat.
    "waltz": Groove(
        (
            Voice(KICK, ("x.......x.......",), 90),
            Voice(SNARE, (BACKBEAT,), 72),
            Voice(CLOSED_HAT, (EIGHTHS,), 54, 0.5),
        ),
        crash=False,
    ),
    # Bass drum on the beats, a rudimental snare.
    "march": Groove(
        (
            Voice(KICK, ("x.......x.......",), 104),
            Voice(SNARE, ("X.x.X.xxX.x.X.xx",), 96),
        ),
        fill=((SNARE, "xxxx"),),
    ),
}
_ACCENT = {"X": 1.12, "x": 1.0, "o": 0.5}
# What each drum sound does in the genre's groove, by sound (open hats on the offbeats are "offbeat" instead).
# A sound with no role here (a tom, a cowbell) plays the sparse "ghost" part.
KINDS = {KICK: "kick", SNARE: "back", CLAP: "back", TAMBOURINE: "back", CLOSED_HAT: "time", SHAKER: "time",
         PEDAL_HAT: "time", RIDE: "time", OPEN_HAT: "accent", CRASH: "accent", RIM: "ghost"}  # fmt: skip
# Patterns per meter and kind: kick on the downbeat, the backbeat on the meter's off pulses (2 and 3 in a waltz,
# the 4th eighth of 6/8, 3+2 in 5/4, 2+2+3 in 7/8), hats on the eighths.
METER_PATTERNS: dict[str, dict[str, tuple[str, ...]]] = {
    "2/4": {
        "kick": ("x.......", "x.....x."),
        "back": ("....X...",),
        "time": ("x.x.x.x.",),
        "offbeat": ("..x...x.",),
        "accent": ("........", "......x."),
        "ghost": ("...o....", "......o."),
    },
    "3/4": {
        "kick": ("x...........", "x.........x."),
        "back": ("....X...x...",),
        "time": ("x.x.x.x.x.x.",),
        "offbeat": ("..x...x...x.",),
        "accent": ("............", "..........x."),
        "ghost": ("......o.....", "..........o."),
    },
    "5/4": {
        "kick": ("x...........x.......", "x.....x.....x......."),
        "back": ("........X.......X...",),
        "time": ("x.x.x.x.x.x.x.x.x.x.",),
        "offbeat": ("..x...x...x...x...x.",),
        "accent": ("....................", "..................x."),
        "ghost": ("......o.............", "..............o....."),
    },
    "6/8": {
        "kick": ("x...........", "x.........x."),
        "back": ("......X.....",),
        "time": ("x.x.x.x.x.x.",),
        "offbeat": ("..x.x...x.x.",),
        "accent": ("............", "..........x."),
        "ghost": ("..o.........", "........o..."),
    },
    "7/8": {
        "kick": ("x.......x.....", "x.....x.x....."),
        "back": ("....X.........",),
        "time": ("x.x.x.x.x.x.x.",),
        "offbeat": ("..x...x...x.x.",),
        "accent": ("..............", "............x."),
        "ghost": ("......o.......", "..........o..."),
    },
    "12/8": {
        "kick": ("x...........x...........", "x.........x.x..........."),
        "back": ("......X...........X.....",),
        "time": ("x.x.x.x.x.x.x.x.x.x.x.x.",),
        "offbeat": ("..x.x...x.x...x.x...x.x.",),
        "accent": ("........................", "......................x."),
        "ghost": ("..........o.............", "..................o....."),
    },
}


@cache
def meter_patterns(meter: Meter) -> dict[str, tuple[str, ...]]:
    """The patterns of a meter with no hand-tuned ones, made from its pulses as METER_PATTERNS are: the kick on the
    strong pulses (and a pickup into the next bar), the backbeat on the others, hats on the eighths (on every
    sixteenth in x/16, whose pulses fall between the eighths)."""

    def bar(hits: dict[int, str]) -> str:
        return "".join(hits.get(step, ".") for step in range(meter.steps))

    pickup = {} if meter.pickup in meter.backbeats else {meter.pickup: "x"}
    keeping_time = range(0, meter.steps, 1 if meter.denominator == 16 else 2)
    offbeats = meter.offbeats
    ghosts = (offbeats[len(offbeats) // 2], offbeats[-1]) if offbeats else ()
    return {
        "kick": (bar(dict.fromkeys(meter.strong_pulses, "x")), bar(dict.fromkeys(meter.strong_pulses, "x") | pickup)),
        "back": (bar(dict.fromkeys(meter.backbeats, "X")),),
        "time": (bar(dict.fromkeys(keeping_time, "x")),),
        "offbeat": (bar(dict.fromkeys(offbeats, "x")),),
        "accent": (bar({}), bar({meter.pickup: "x"})),
        "ghost": tuple(bar({step: "o"}) for step in ghosts) or (bar({}),),
    }


def _groove_for(genre_name: str, meter: Meter) -> Groove:
    """The genre's groove; outside 4/4, its sounds in the meter's patterns."""
    groove = GROOVES[genre_name]
    if meter == COMMON_TIME:
        return groove
    patterns = METER_PATTERNS.get(meter.name) or meter_patterns(meter)
    voices = tuple(
        Voice(voice.pitch, patterns["offbeat" if voice.bars == (OFFBEATS,) else KINDS.get(voice.pitch, "ghost")],
              voice.velocity, voice.min_energy)
        for voice in groove.voices
    )  # fmt: skip
    return Groove(voices, groove.fill, groove.trap_hats, groove.crash)


def drum_part(
    genre: Genre, sections: tuple[Section, ...], feel: Feel, rng: random.Random, intensity: int
) -> tuple[Part, list[list[int]]]:
    """The drum track and, per bar, the sixteenth steps the kick plays (the bass locks to them)."""
    meter = feel.meter
    groove = _groove_for(genre.name, meter)
    part = Part()
    total_bars = sections[-1].end_bar
    kicks: list[list[int]] = [[] for _ in range(total_bars)]
    loudness = 1.0 + 0.06 * intensity
    rotation = rng.randrange(4)  # the seed decides which variation of the pattern cycle comes first
    for section in sections:
        if not plays(genre.form, section, "drums"):
            continue
        scale = (0.8 + 0.2 * section.energy) * loudness
        if groove.crash and section.energy >= 0.85 and section.start_bar > 0:
            part.note(feel.bar(section.start_bar), HIT, CRASH, feel.velocity(110 * loudness))
        for bar in range(section.start_bar, section.end_bar):
            in_section = bar - section.start_bar
            if section.name == "build":
                _build_bar(part, feel, groove, bar, in_section, section, scale)
                continue
            phrase_end = in_section % 4 == 3 and bar < total_bars - 1 and section.energy >= 0.6
            fill = dict(groove.fill) if phrase_end else {}
            pattern_index = in_section + rotation
            kicks[bar] = _groove_bar(part, feel, groove, bar, pattern_index, section.energy, fill, scale)
            if groove.trap_hats:
                _trap_hats(part, feel, rng, bar, in_section, scale)
    return part, kicks


def _groove_bar(
    part: Part,
    feel: Feel,
    groove: Groove,
    bar: int,
    pattern_index: int,
    energy: float,
    fill: dict[int, str],
    scale: float,
) -> list[int]:
    """One bar of the groove's voices (those the section's energy lets play), its last beat replaced by `fill` (a
    phrase's end), with the fill's drums that no voice plays added; the sixteenth steps the kick plays."""
    fill_steps = min(FILL_STEPS, feel.meter.steps)  # a bar shorter than a fill plays the fill's end
    fill_from = feel.meter.steps - fill_steps
    kicks = []
    for voice in groove.voices:
        if energy < voice.min_energy:
            continue
        pattern = voice.bars[pattern_index % len(voice.bars)]
        for step, mark in enumerate(pattern):
            if step >= fill_from and fill and voice.pitch in fill:
                mark = fill[voice.pitch][FILL_STEPS - fill_steps + step - fill_from]
            if mark == ".":
                continue
            if voice.pitch == KICK:
                kicks.append(step)
            velocity = feel.velocity(voice.velocity * _ACCENT[mark] * scale)
            part.note(feel.human(feel.tick(bar, step)), HIT, voice.pitch, velocity)
    for pitch, marks in groove.fill if fill else ():
        if all(voice.pitch != pitch for voice in groove.voices):
            for offset, mark in enumerate(marks[FILL_STEPS - fill_steps :]):
                if mark != ".":
                    velocity = feel.velocity(100 * _ACCENT[mark] * scale)
                    part.note(feel.human(feel.tick(bar, fill_from + offset)), HIT, pitch, velocity)
    return kicks


def _trap_hats(part: Part, feel: Feel, rng: random.Random, bar: int, in_section: int, scale: float) -> None:
    """Sixteenth hats; some eighth-note spans become 1/32 rolls or triplets, the last quarter of 4 bars always."""
    spans = feel.meter.steps // 2
    rolls: dict[int, int] = {}  # eighth-note span -> hits in it (4: 1/32 roll, 3: 1/16 triplet, 6: 1/32 triplet)
    for span in range(3, spans, 2):
        if rng.random() < 0.3:
            rolls[span] = rng.choice((3, 4, 4, 6))
    if in_section % 4 == 3:
        rolls[spans - 2], rolls[spans - 1] = 4, 6
    for span in range(spans):
        start = feel.tick(bar, span * 2)
        hits = rolls.get(span, 2)
        spacing = 2 * STEP // hits
        for hit in range(hits):
            # Plain eighths lean on the downbeat; rolls swell into the next beat.
            accent = (92 if hit == 0 else 66) if hits == 2 else 58 + 40 * hit / (hits - 1)
            velocity = accent * scale
            part.note(feel.human(start + hit * spacing), min(HIT, spacing), CLOSED_HAT, feel.velocity(velocity, 4))


def _build_bar(
    part: Part, feel: Feel, groove: Groove, bar: int, in_section: int, section: Section, scale: float
) -> None:
    """A snare roll on the pulses that doubles its rate through the build, over kicks that stop for the last bar."""
    meter = feel.meter
    beats = len(meter.pulses) * section.bars
    for beat, (pulse, span) in enumerate(zip(meter.pulses, meter.spans, strict=True)):
        progress = (in_section * len(meter.pulses) + beat) / beats
        hits = 1 if progress < 0.25 else 2 if progress < 0.5 else 4 if progress < 0.85 else 8
        start = feel.bar(bar) + pulse * STEP
        for hit in range(hits):
            tick = start + hit * span * STEP // hits
            part.note(tick, min(HIT, span * STEP // hits), SNARE, feel.velocity((50 + 70 * progress) * scale, 3))
        if in_section < section.bars - 1:
            part.note(start, HIT, KICK, feel.velocity(110 * scale))
    for voice in groove.voices:
        if voice.pitch in (CLOSED_HAT, OPEN_HAT) and section.energy >= voice.min_energy:
            for step, mark in enumerate(voice.bars[in_section % len(voice.bars)]):
                if mark != ".":
                    part.note(feel.tick(bar, step), HIT, voice.pitch, feel.velocity(voice.velocity * scale))

"""General MIDI instrument names, the drum kit and note map, and the instrument words a prompt may use."""

from dataclasses import dataclass
from typing import Literal

Role = Literal["drums", "bass", "chords", "lead", "pad", "fx"]
ROLES: tuple[Role, ...] = ("drums", "bass", "chords", "lead", "pad", "fx")

GM_PROGRAMS = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet", "Celesta", "Glockenspiel", "Music Box",
    "Vibraphone", "Marimba", "Xylophone", "Tubular Bells", "Dulcimer", "Drawbar Organ", "Percussive Organ",
    "Rock Organ", "Church Organ", "Reed Organ", "Accordion", "Harmonica", "Tango Accordion",
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)", "Electric Guitar (clean)",
    "Electric Guitar (muted)", "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics", "Acoustic Bass",
    "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1", "Slap Bass 2",
    "Synth Bass 1", "Synth Bass 2", "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings",
    "Pizzicato Strings", "Orchestral Harp", "Timpani", "String Ensemble 1", "String Ensemble 2",
    "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs", "Synth Voice", "Orchestra Hit",
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section", "Synth Brass 1",
    "Synth Brass 2", "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn",
    "Bassoon", "Clarinet", "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi",
    "Whistle", "Ocarina", "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)",
    "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)", "Pad 1 (new age)",
    "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)", "Pad 6 (metallic)", "Pad 7 (halo)",
    "Pad 8 (sweep)", "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)",
    "FX 5 (brightness)", "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)", "Sitar", "Banjo", "Shamisen",
    "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai", "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock",
    "Taiko Drum", "Melodic Tom", "Synth Drum", "Reverse Cymbal", "Guitar Fret Noise", "Breath Noise",
    "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter", "Applause", "Gunshot",
)  # fmt: skip
# Drum kits by the program number GS/GM2 synthesizers (FluidSynth's SoundFonts among them) select on channel 10.
DRUM_KITS = {0: "Standard Kit", 8: "Room Kit", 16: "Power Kit", 24: "Electronic Kit", 25: "TR-808 Kit",
             32: "Jazz Kit", 40: "Brush Kit", 48: "Orchestra Kit"}  # fmt: skip
DRUM_CHANNEL = 9

KICK, RIM, SNARE, CLAP = 36, 37, 38, 39
CLOSED_HAT, PEDAL_HAT, OPEN_HAT = 42, 44, 46
LOW_TOM, MID_TOM, HIGH_TOM = 45, 47, 50
CRASH, RIDE, TAMBOURINE, SHAKER = 49, 51, 54, 70


@dataclass(frozen=True)
class InstrumentWord:
    """An instrument a prompt can ask for: the GM program and the roles it can fill, most fitting first."""

    program: int | None  # None: the genre's own choice for the role
    roles: tuple[Role, ...]
    is_808: bool = False
    wobble: bool = False
    # A sound a producer lays under a genre's song ("vinyl", "risers"): it joins, but does not, with one other
    # instrument, make the named instruments the arrangement.
    texture: bool = False

    @property
    def register(self) -> tuple[int, int] | None:
        """Where the instrument sounds well, (lowest, highest) MIDI pitch; None for a word that names no program."""
        return None if self.program is None else program_register(self.program)


# The words producers use, each with the roles it fills; INSTRUMENT_WORDS below adds every General MIDI name.
PRODUCER_WORDS: dict[str, InstrumentWord] = {
    "808": InstrumentWord(38, ("bass",), is_808=True),
    "808s": InstrumentWord(38, ("bass",), is_808=True),
    "sub": InstrumentWord(38, ("bass",)),
    "sub bass": InstrumentWord(38, ("bass",)),
    "bass": InstrumentWord(None, ("bass",)),
    "bassline": InstrumentWord(None, ("bass",)),
    "synth bass": InstrumentWord(38, ("bass",)),
    "reese": InstrumentWord(39, ("bass",)),
    "wobble": InstrumentWord(87, ("bass",), wobble=True),
    "wobble bass": InstrumentWord(87, ("bass",), wobble=True),
    "acid": InstrumentWord(87, ("bass", "lead")),
    "303": InstrumentWord(87, ("bass", "lead")),
    "slap bass": InstrumentWord(36, ("bass",)),
    "upright bass": InstrumentWord(32, ("bass",)),
    "double bass": InstrumentWord(32, ("bass",)),
    "piano": InstrumentWord(0, ("chords", "lead")),
    "keys": InstrumentWord(0, ("chords", "lead")),
    "rhodes": InstrumentWord(4, ("chords", "lead")),
    "electric piano": InstrumentWord(2, ("chords", "lead")),  # captions' "Electric Piano" is GM's program 2
    "wurlitzer": InstrumentWord(5, ("chords", "lead")),
    "organ": InstrumentWord(16, ("chords", "pad")),
    "clavinet": InstrumentWord(7, ("chords", "lead")),
    "guitar": InstrumentWord(27, ("chords", "lead")),
    "acoustic guitar": InstrumentWord(24, ("chords", "lead")),
    "jazz guitar": InstrumentWord(26, ("chords", "lead")),
    "strings": InstrumentWord(48, ("pad", "chords")),
    "orchestra": InstrumentWord(48, ("pad", "chords")),
    "violin": InstrumentWord(40, ("lead",)),
    "cello": InstrumentWord(42, ("lead", "bass", "pad")),
    "pizzicato": InstrumentWord(45, ("lead",)),
    "harp": InstrumentWord(46, ("lead", "chords")),
    "choir": InstrumentWord(52, ("pad", "chords")),
    "vocals": InstrumentWord(53, ("lead", "pad")),
    "vocal chops": InstrumentWord(54, ("lead",)),
    "pad": InstrumentWord(89, ("pad", "chords")),
    "pads": InstrumentWord(89, ("pad", "chords")),
    "synth": InstrumentWord(81, ("lead", "chords")),
    "synths": InstrumentWord(81, ("lead", "chords")),
    "lead": InstrumentWord(None, ("lead",)),
    "melody": InstrumentWord(None, ("lead",)),
    "supersaw": InstrumentWord(81, ("chords", "lead")),
    "saw": InstrumentWord(81, ("lead", "chords")),
    "square": InstrumentWord(80, ("lead",)),
    "pluck": InstrumentWord(45, ("lead",)),
    "plucks": InstrumentWord(45, ("lead",)),
    "arp": InstrumentWord(81, ("lead",)),
    "bell": InstrumentWord(14, ("lead",)),
    "bells": InstrumentWord(14, ("lead",)),
    "glockenspiel": InstrumentWord(9, ("lead",)),
    "music box": InstrumentWord(10, ("lead",)),
    "celesta": InstrumentWord(8, ("lead",)),
    "vibraphone": InstrumentWord(11, ("lead", "chords")),
    "vibes": InstrumentWord(11, ("lead", "chords")),
    "marimba": InstrumentWord(12, ("lead",)),
    "kalimba": InstrumentWord(108, ("lead",)),
    "flute": InstrumentWord(73, ("lead",)),
    "pan flute": InstrumentWord(75, ("lead",)),
    "sax": InstrumentWord(65, ("lead",)),
    "saxophone": InstrumentWord(65, ("lead",)),
    "trumpet": InstrumentWord(56, ("lead",)),
    "brass": InstrumentWord(61, ("lead", "chords")),
    "horns": InstrumentWord(61, ("lead", "chords")),
    "sitar": InstrumentWord(104, ("lead",)),
    "koto": InstrumentWord(107, ("lead",)),
    "riser": InstrumentWord(119, ("fx",), texture=True),
    "risers": InstrumentWord(119, ("fx",), texture=True),
    "fx": InstrumentWord(119, ("fx",), texture=True),
    "sfx": InstrumentWord(119, ("fx",), texture=True),
    "rain": InstrumentWord(96, ("fx",), texture=True),
    "vinyl": InstrumentWord(96, ("fx",), texture=True),
    "vinyl crackle": InstrumentWord(96, ("fx",), texture=True),
    "crackle": InstrumentWord(96, ("fx",), texture=True),
    # The rest of General MIDI by the plain names captions use ("honky-tonk" reads as "honky tonk").
    "grand piano": InstrumentWord(0, ("chords", "lead")),
    "bright piano": InstrumentWord(1, ("chords", "lead")),
    "honky tonk piano": InstrumentWord(3, ("chords", "lead")),
    "harpsichord": InstrumentWord(6, ("chords", "lead")),
    "xylophone": InstrumentWord(13, ("lead",)),
    "tubular bells": InstrumentWord(14, ("lead",)),
    "dulcimer": InstrumentWord(15, ("lead", "chords")),
    "rock organ": InstrumentWord(18, ("chords", "pad")),
    "church organ": InstrumentWord(19, ("chords", "pad")),
    "accordion": InstrumentWord(21, ("chords", "lead")),
    "harmonica": InstrumentWord(22, ("lead",)),
    "nylon guitar": InstrumentWord(24, ("chords", "lead")),
    "classical guitar": InstrumentWord(24, ("chords", "lead")),
    "steel guitar": InstrumentWord(25, ("chords", "lead")),
    "ukulele": InstrumentWord(24, ("chords", "lead")),  # GM has none: its nylon-strung guitar
    "pedal steel guitar": InstrumentWord(25, ("lead", "chords")),  # GM has no pedal steel: its steel-strung guitar
    "pedal steel": InstrumentWord(25, ("lead", "chords")),
    "lap steel": InstrumentWord(25, ("lead", "chords")),
    "electric guitar": InstrumentWord(26, ("chords", "lead")),  # GM's first Electric Guitar; 27 is the clean one
    "clean guitar": InstrumentWord(27, ("chords", "lead")),
    "muted guitar": InstrumentWord(28, ("chords", "lead")),
    "overdriven guitar": InstrumentWord(29, ("chords", "lead")),
    "distortion guitar": InstrumentWord(30, ("chords", "lead")),
    "distorted guitar": InstrumentWord(30, ("chords", "lead")),
    "acoustic bass": InstrumentWord(32, ("bass",)),
    "electric bass": InstrumentWord(33, ("bass",)),
    "fingered bass": InstrumentWord(33, ("bass",)),
    "picked bass": InstrumentWord(34, ("bass",)),
    "fretless bass": InstrumentWord(35, ("bass",)),
    "viola": InstrumentWord(41, ("lead", "pad")),
    "contrabass": InstrumentWord(43, ("bass",)),
    "tremolo strings": InstrumentWord(44, ("pad", "chords")),
    "timpani": InstrumentWord(47, ("bass", "lead")),
    "string ensemble": InstrumentWord(48, ("pad", "chords")),
    "synth strings": InstrumentWord(50, ("pad", "chords")),
    "orchestra hit": InstrumentWord(55, ("fx", "lead")),
    "trombone": InstrumentWord(57, ("lead", "chords")),
    "tuba": InstrumentWord(58, ("bass",)),
    "muted trumpet": InstrumentWord(59, ("lead",)),
    "french horn": InstrumentWord(60, ("lead", "pad")),
    "french horns": InstrumentWord(60, ("lead", "pad")),
    "brass section": InstrumentWord(61, ("lead", "chords")),
    "synth brass": InstrumentWord(62, ("lead", "chords")),
    "soprano sax": InstrumentWord(64, ("lead",)),
    "alto sax": InstrumentWord(65, ("lead",)),
    "tenor sax": InstrumentWord(66, ("lead",)),
    "baritone sax": InstrumentWord(67, ("lead",)),
    "oboe": InstrumentWord(68, ("lead",)),
    "english horn": InstrumentWord(69, ("lead",)),
    "bassoon": InstrumentWord(70, ("lead", "bass")),
    "clarinet": InstrumentWord(71, ("lead",)),
    "piccolo": InstrumentWord(72, ("lead",)),
    "recorder": InstrumentWord(74, ("lead",)),
    "whistle": InstrumentWord(78, ("lead",)),
    "ocarina": InstrumentWord(79, ("lead",)),
    "banjo": InstrumentWord(105, ("chords", "lead")),
    "shamisen": InstrumentWord(106, ("lead",)),
    "bagpipe": InstrumentWord(109, ("lead",)),
    "bagpipes": InstrumentWord(109, ("lead",)),
    "fiddle": InstrumentWord(110, ("lead",)),
    "steel drums": InstrumentWord(114, ("lead",)),
    # Drum kits by name: the kit program the drum channel selects (DRUM_KITS).
    "brush drums": InstrumentWord(40, ("drums",)),
    "brushes": InstrumentWord(40, ("drums",)),
    "brush kit": InstrumentWord(40, ("drums",)),
    "jazz kit": InstrumentWord(32, ("drums",)),
    "orchestra kit": InstrumentWord(48, ("drums",)),
    "808 kit": InstrumentWord(25, ("drums",)),
    "electronic drums": InstrumentWord(24, ("drums",)),
}
# Drum words are understood (a beat always has drums) but choose no program: each reads as DRUMS.
DRUM_WORDS = frozenset({
    "drums", "drum", "kick", "kicks", "snare", "snares", "clap", "claps", "hats", "hat", "hi hats", "hi hat",
    "hihats", "hihat", "percussion", "perc", "rolls", "hat rolls", "rimshot", "rimshots", "toms", "cymbals",
    "shaker", "shakers", "breakbeat", "breakbeats", "break", "breaks",
    # Hand and auxiliary percussion: the drum channel's.
    "conga", "congas", "bongo", "bongos", "timbales", "cowbell", "claves", "maracas", "tambourine", "triangle",
    "sleigh bells", "jingle bells", "hand percussion",
})  # fmt: skip
DRUMS = InstrumentWord(None, ("drums",))

# The roles of the instruments named by General MIDI or the captions' table, by GM family (programs 8n to 8n+7),
# where PROGRAM_ROLES gives none.
FAMILY_ROLES: tuple[tuple[Role, ...], ...] = (
    ("chords", "lead"),  # pianos
    ("lead", "chords"),  # chromatic percussion
    ("chords", "pad"),  # organs
    ("chords", "lead"),  # guitars
    ("bass",),  # basses
    ("lead", "pad"),  # strings
    ("pad", "chords"),  # ensembles
    ("lead", "chords"),  # brass
    ("lead",),  # reeds
    ("lead",),  # pipes
    ("lead",),  # synth leads
    ("pad", "chords"),  # synth pads
    ("fx",),  # synth effects
    ("lead",),  # ethnic
    ("fx", "lead"),  # percussive: hits under the song rather than a melody
    ("fx",),  # sound effects
)
PROGRAM_ROLES: dict[int, tuple[Role, ...]] = {
    21: ("chords", "lead"), 22: ("lead",), 23: ("chords", "lead"), 42: ("lead", "bass", "pad"), 43: ("bass",),
    44: ("pad", "chords"), 45: ("chords", "lead"), 46: ("lead", "chords"), 47: ("bass", "lead"), 53: ("pad", "lead"),
    54: ("pad", "lead"), 55: ("fx", "lead"), 58: ("bass",), 60: ("lead", "pad"), 70: ("lead", "bass"),
    105: ("chords", "lead"), 112: ("lead",), 114: ("lead",),
}  # fmt: skip
# How MidiCaps' captions name programs (its table: several programs share a name, which stands for the first here,
# or the one a producer means), and other common spellings; every other program goes by its General MIDI name.
CAPTION_NAMES: dict[str, int] = {
    "hammond organ": 16, "clean electric guitar": 27, "choir aahs": 52, "voice oohs": 53, "synth voice": 54,
    "soprano saxophone": 64, "alto saxophone": 65, "tenor saxophone": 66, "baritone saxophone": 67,
    "bottle blow": 76, "synth lead": 81, "calliope lead": 82, "chiffer lead": 83, "charang lead": 84,
    "brass lead": 87, "synth pad": 89, "synth effects": 99, "shana": 111,
}  # fmt: skip
SPELLINGS: dict[str, int] = {
    "acoustic piano": 0, "e piano": 2, "epiano": 2, "honkytonk piano": 3, "honky tonk": 3, "hammond": 16,
    "drawbar organ": 16, "pipe organ": 19, "harmonium": 20, "bandoneon": 23, "nylon string guitar": 24,
    "spanish guitar": 24, "steel string guitar": 25, "folk guitar": 25, "muted electric guitar": 28,
    "palm muted guitar": 28, "overdrive guitar": 29, "finger bass": 33, "pick bass": 34, "string bass": 32,
    "violoncello": 42, "pizzicato strings": 45, "string section": 48, "strings section": 48,
    "string orchestra": 48, "synth choir": 54, "orchestral hit": 55, "cornet": 56, "flugelhorn": 56, "horn": 60,
    "horn section": 61, "bari sax": 67, "cor anglais": 69, "bass clarinet": 71, "panflute": 75, "pan pipes": 75,
    "tin whistle": 78, "square lead": 80, "saw lead": 81, "sawtooth lead": 81, "calliope": 82, "chiff lead": 83,
    "charang": 84, "voice lead": 85, "fifths lead": 86, "new age pad": 88, "polysynth": 90, "choir pad": 91,
    "bowed pad": 92, "metallic pad": 93, "halo pad": 94, "sweep pad": 95, "synth fx": 99, "shanai": 111,
    "shehnai": 111, "agogo bells": 113, "steel drum": 114, "steel pan": 114, "steelpan": 114, "wood block": 115,
    "taiko": 116, "fret noise": 120, "sea shore": 122, "birdsong": 123, "telephone": 124, "phone ring": 124,
    "gun shot": 127,
}  # fmt: skip


def program_roles(program: int) -> tuple[Role, ...]:
    return PROGRAM_ROLES.get(program, FAMILY_ROLES[program // 8])


def _plural(phrase: str) -> str:
    if phrase.endswith(("ss", "x", "sh", "ch")):
        return phrase + "es"
    if phrase.endswith("y") and phrase[-2:-1] not in tuple("aeiou"):
        return phrase[:-1] + "ies"
    return phrase + "s"


def _vocabulary() -> dict[str, InstrumentWord]:
    """Every General MIDI name (with and without its parentheses), the captions' names and other spellings, the
    producer words, and the plural of each ("violins", "saxophones", "synth pads"); the drum words, as DRUMS."""
    programs: dict[str, int] = {}
    for program, name in enumerate(GM_PROGRAMS):
        spoken = name.lower().replace("-", " ")
        programs[spoken] = program
        programs[spoken.replace("(", "").replace(")", "")] = program
    programs |= CAPTION_NAMES | SPELLINGS
    words = {phrase: InstrumentWord(program, program_roles(program)) for phrase, program in programs.items()}
    words |= PRODUCER_WORDS
    for phrase, word in list(words.items()):
        if phrase[-1].isalpha() and (not phrase.endswith("s") or phrase.endswith("ss")):
            words.setdefault(_plural(phrase), word)
    return words | dict.fromkeys(DRUM_WORDS, DRUMS)


INSTRUMENT_WORDS = _vocabulary()
# Struck sounds that keep the pulse where a sound effect would hold a note.
STRUCK_PROGRAMS = frozenset({113, 115, 116, 117, 118})  # agogo, woodblock, taiko drum, melodic tom, synth drum

# Where each instrument sounds well, (lowest, highest) MIDI pitch, by GM family and then by program: a part moved
# by octaves into it keeps its key.
FAMILY_REGISTERS: tuple[tuple[int, int], ...] = (
    (36, 96), (60, 96), (36, 96), (40, 84), (28, 60), (48, 96), (36, 84), (48, 84),
    (50, 88), (60, 96), (36, 96), (36, 96), (36, 96), (48, 88), (48, 84), (36, 96),
)  # fmt: skip
PROGRAM_REGISTERS: dict[int, tuple[int, int]] = {
    9: (72, 105), 11: (53, 89), 12: (45, 96), 13: (65, 108), 14: (60, 77), 15: (48, 84), 21: (53, 89),
    22: (60, 84), 23: (53, 89), 40: (55, 100), 41: (48, 88), 42: (36, 76), 43: (28, 60), 44: (36, 96),
    45: (36, 96), 46: (24, 103), 47: (40, 57), 56: (54, 82), 57: (40, 72), 58: (28, 58), 59: (54, 82),
    60: (41, 77), 64: (56, 88), 65: (49, 81), 66: (44, 76), 67: (36, 69), 68: (58, 91), 69: (52, 81),
    70: (34, 72), 71: (50, 91), 72: (74, 108), 112: (72, 96), 116: (36, 60), 117: (40, 72), 118: (36, 72),
}  # fmt: skip


def program_register(program: int) -> tuple[int, int]:
    return PROGRAM_REGISTERS.get(program, FAMILY_REGISTERS[program // 8])


def program_name(program: int, is_drum: bool) -> str:
    return DRUM_KITS.get(program, "Standard Kit") if is_drum else GM_PROGRAMS[program]

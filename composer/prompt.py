"""Reads a producer's prompt: genre, tempo, key, length, time signature, instruments, chords, sections and moods.

Every word is either understood, a stop word, or reported back as unknown - never silently dropped."""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from composer.arrange import SECTION_ORDER, Structure
from composer.genres import GENRES, Genre
from composer.instruments import DRUM_WORDS, INSTRUMENT_WORDS, InstrumentWord, Role
from composer.numerals import NUMERAL, Numeral, parse_numeral
from composer.request import MAX_BPM, MIN_BPM, check_bars, check_bpm, check_seconds
from composer.score import METERS
from composer.theory import MODE_WORDS, Chord, normalise_accidental, parse_chord_symbol, pitch_class

STOP_WORDS = frozenset({
    "a", "an", "the", "with", "and", "or", "plus", "in", "at", "of", "for", "on", "to", "by", "from", "into",
    "some", "lots", "lot", "more", "less", "very", "really", "super", "quite", "bit", "little", "kind", "sort",
    "beat", "beats", "song", "songs", "track", "tracks", "tune", "music", "instrumental",
    "style", "styled", "vibe", "vibes", "type", "like", "feel", "feeling", "sound", "sounds", "sounding",
    "please", "make", "me", "give", "create", "generate", "compose", "write", "produce", "i", "want", "need",
    "my", "us", "that", "this", "is", "it", "its", "it's", "be", "using", "featuring", "feat", "ft", "over",
    "key", "tempo", "bpm", "long", "about", "around", "roughly", "approx", "approximately", "mode", "scale",
    "part", "parts", "layer", "layers", "inspired", "vs", "x", "also", "but", "not", "just", "only", "full",
    "production", "instrumentation", "backing", "rhythm", "groove", "grooves", "line", "lines", "chords",
    "chord", "progression", "tone", "tones", "texture", "textures", "ish", "mix", "arrangement",
    # Captions' plain English ("The piece is set in A minor and features piano throughout; its time signature is 4/4").
    "piece", "pieces", "set", "throughout", "features", "feature", "featured", "element", "elements", "overall",
    "are", "was", "were", "has", "have", "as", "which", "while", "their", "there", "such", "main", "moves",
    "played", "plays", "playing", "performed", "time", "signature", "sequence", "follows", "following", "along",
    "instrument", "instruments", "including", "includes", "include", "accompanied", "backed", "alongside",
    "together", "other", "others", "consists", "consisting", "comprising", "complemented", "supported", "joined",
    "song's", "piece's", "track's", "tune's", "evokes", "evoke", "evoking", "conveys", "conveying", "creates",
    "creating", "suitable", "perfect", "ideal", "mood", "moods", "listener", "listeners", "listening", "experience",
    "prominent", "prominently", "mainly", "primarily", "predominantly", "mostly", "characterized", "characterised",
    "making", "makes", "gives", "giving", "offers", "adds", "adding", "contributing", "contributes", "brings",
    "bringing", "uses", "used", "utilizing", "heard", "can", "could", "would", "will", "been", "being", "these",
    "those", "than", "within", "across", "during", "you", "your", "we", "our", "they", "them", "all",
    "both", "each", "every", "many", "several", "various", "another", "between", "through", "so", "if", "even",
    "well", "particularly", "especially", "notably", "sets", "setting", "remains", "entire", "whole",
})  # fmt: skip
NEGATIONS = ("no", "without", "minus")
# Words that name a role without choosing an instrument; they matter only after a negation ("no chords").
ROLE_WORDS: dict[str, Role] = {
    "chords": "chords", "chord": "chords", "harmony": "chords", "effects": "fx",
}  # fmt: skip
# "a beat", "beats": drums under named instruments (not "beats per minute").
_BEAT = re.compile(r"(?<![\w#&'])beats?(?![\w#&'])(?!\s+per\s+minute)")
SECTION_WORDS = {
    "intro": "intro", "intros": "intro", "verse": "verse", "verses": "verse", "chorus": "chorus",
    "choruses": "chorus", "hook": "chorus", "hooks": "chorus", "build": "build", "builds": "build",
    "buildup": "build", "buildups": "build", "build up": "build", "drop": "drop", "drops": "drop",
    "breakdown": "breakdown", "breakdowns": "breakdown", "bridge": "bridge", "bridges": "bridge", "outro": "outro",
    "outros": "outro",
}  # fmt: skip
LOOP_WORDS = frozenset({"loop", "loops", "looped", "looping"})

# Mood words: a mode for keys the prompt names without one, a nudge to tempo, energy and swing.
MINOR_MOODS = frozenset(
    {
        "dark",
        "sad",
        "moody",
        "melancholic",
        "melancholy",
        "sinister",
        "evil",
        "gloomy",
        "haunting",
        "eerie",
        "menacing",
        "emotional",
        "somber",
        "sombre",
        "tense",
        "ominous",
    }
)
MAJOR_MOODS = frozenset(
    {
        "happy",
        "uplifting",
        "bright",
        "euphoric",
        "cheerful",
        "sunny",
        "joyful",
        "hopeful",
        "summer",
        "summery",
        "feel good",
        "playful",
        "cute",
        "positive",
    }
)
SLOW_WORDS = frozenset({"slow", "chill", "chilled", "relaxed", "laid back", "lazy", "calm", "downtempo"})
FAST_WORDS = frozenset(
    {
        "fast",
        "hype",
        "energetic",
        "upbeat",
        "aggressive",
        "hard",
        "driving",
        "intense",
        "banging",
        "uptempo",
        "high energy",
    }
)
SOFT_WORDS = frozenset(
    {
        "soft",
        "gentle",
        "mellow",
        "dreamy",
        "smooth",
        "warm",
        "lush",
        "peaceful",
        "quiet",
        "ethereal",
        "nostalgic",
        "cozy",
        "rainy",
        "late night",
        "night",
        "jazzy",
    }
)
LOUD_WORDS = frozenset(
    {
        "punchy",
        "heavy",
        "loud",
        "sharp",
        "crisp",
        "big",
        "massive",
        "huge",
        "filthy",
        "gritty",
        "distorted",
        "dirty",
        "bouncy",
        "catchy",
        "epic",
        "melodic",
        "groovy",
    }
)
SWING_WORDS = frozenset({"swing", "swung", "swingy", "shuffle", "dusty", "jazzy", "bouncy", "groovy"})
MOOD_WORDS = MINOR_MOODS | MAJOR_MOODS | SLOW_WORDS | FAST_WORDS | SOFT_WORDS | LOUD_WORDS | SWING_WORDS

_NUMBER = r"(\d+(?:\.\d+)?)"
_END = r"(?![\w#])"
_LENGTH_UNIT = r"(?!\s*(?:bars?|measures?|seconds?|secs?|s\b|minutes?|mins?|%))"
_TEMPO_PATTERNS = (
    re.compile(_NUMBER + r"\s*(?:bpm|beats per minute)" + _END),
    re.compile(r"\b(?:bpm|tempo)\s*(?:of|:|=|at|is)?\s*" + _NUMBER + _END),
    re.compile(r"\bat\s+" + _NUMBER + _END + _LENGTH_UNIT),
)
# Italian tempo markings, each at the middle of its usual range (Wikipedia's "Tempo" table) so that any reading of
# the word's range holds it; a BPM number written in the prompt wins. Larghissimo (24 and under) and grave (25-45)
# take the slowest tempo the composer plays.
TEMPO_MARKINGS = {
    "larghissimo": float(MIN_BPM),
    "grave": float(MIN_BPM),
    "largo": 50.0,
    "lento": 52.0,
    "larghetto": 63.0,
    "adagio": 71.0,
    "adagietto": 74.0,
    "andante": 92.0,
    "andantino": 94.0,
    "andante moderato": 100.0,
    "moderato": 114.0,
    "allegretto": 116.0,
    "allegro moderato": 118.0,
    "allegro": 138.0,
    "vivace": 166.0,
    "vivacissimo": 174.0,
    "allegrissimo": 174.0,
    "allegro vivace": 174.0,
    "presto": 184.0,
    "prestissimo": 208.0,
}
# A number standing alone ("dubstep drop wobble bass 140"): the tempo when it lies in the range producers name
# tempos in (not 808, 909, "4 on the floor" or "top 40").
BARE_TEMPO_RANGE = (60.0, 200.0)
_BARE_TEMPO = re.compile(r"(?<![\w#&'./:])(\d{2,3}(?:\.\d+)?)(?![\w#&'/:%]|\.\d)" + _LENGTH_UNIT)
_BARS = re.compile(r"\b(\d+)\s*(?:bars?|measures?)" + _END)
_DECADE = re.compile(r"(?<![\w.])'?(?:19)?[5-9]0s" + _END)
_SECONDS = re.compile(r"\b" + _NUMBER + r"\s*(?:seconds?|secs?|s)" + _END)
_MINUTES = re.compile(r"\b" + _NUMBER + r"\s*(?:minutes?|mins?)" + _END)
_ACCIDENTAL = r"([#b\u266f\u266d]|\s+sharp|\s+flat)?"
_MODE_NAMES = "|".join(sorted((w for w in MODE_WORDS if len(w) > 1), key=len, reverse=True))
_KEY_WITH_MODE = re.compile(r"(?<![\w#])([A-Ga-g])" + _ACCIDENTAL + r"\s*(" + _MODE_NAMES + r")" + _END,
                            re.IGNORECASE)  # fmt: skip
_KEY_SHORT_MINOR = re.compile(r"(?<![\w#])([A-G])([#b\u266f\u266d]?)m" + _END)
_KEY_TONIC_ONLY = re.compile(r"(?i:\bin|\bkey(?:\s+of)?|\bkey:)\s+([A-G])([#b\u266f\u266d]?)" + _END)
_KEY_OF_LOWER = re.compile(r"\bkey\s+of\s+([a-g])([#b\u266f\u266d]?)" + _END)
_METER_NAMES = "|".join(re.escape(name) for name in sorted(METERS, key=len, reverse=True))
_METER = re.compile(
    r"(?<![\w/.])(?:time signature\s+(?:of\s+|is\s+)?)?(" + _METER_NAMES + r")(?![\w/.])(?:\s+time(?:\s+signature)?\b)?"
)
METER_WORDS = {"waltz": "3/4", "waltzes": "3/4"}
_WORD = re.compile(r"[a-z0-9#&'\u266f\u266d]+")
# A chord symbol, or a slash chord ('G/B': G over a B bass) where the slash is not one of a chain ('Am/F/C/G' is a
# progression written with slashes between its chords).
_CHORD_TOKEN = re.compile(r"(?<!/)([A-G][#b]?[a-zA-Z0-9#()]*)/([A-G][#b]?)(?![\w#/])|([A-G][#b]?[a-zA-Z0-9#()]*)")
_CHORD_GAP = re.compile(r"\s*[,|/]?\s*-?\s*")
_ONLY_BEFORE = re.compile(r"(?:^|\s)(?:just|only)\s+(?:(?:the|a|an|one)\s+)?$")
_ONLY_AFTER = re.compile(r"\s+only(?![\w#&'])")


@dataclass(frozen=True)
class KeyMention:
    tonic: int
    accidental: str
    mode: str | None  # None when the prompt names only the tonic ("in A")


@dataclass(frozen=True)
class Mood:
    mode: str | None = None  # "minor" or "major" from words such as "dark" or "happy"
    tempo: int = 0  # -1 slow, +1 fast
    intensity: int = 0  # -1 soft, +1 hard
    swing: bool = False


@dataclass(frozen=True)
class PromptInfo:
    genre: Genre | None = None
    bpm: float | None = None
    key: KeyMention | None = None
    bars: int | None = None
    seconds: float | None = None
    time_signature: str | None = None
    instruments: tuple[InstrumentWord, ...] = ()
    beat: bool = False  # the prompt asks for a beat: named instruments play over drums
    excluded: frozenset[Role] = frozenset()
    chords: tuple[Chord, ...] = ()
    numerals: tuple[Numeral, ...] = ()  # a Roman-numeral progression, realised once the key is known
    structure: Structure | None = None  # None when the prompt names no sections
    mood: Mood = field(default_factory=Mood)
    unknown_words: tuple[str, ...] = ()


class _Text:
    """The prompt in two aligned forms (as written; lower case with hyphens as spaces) and what is consumed."""

    def __init__(self, prompt: str) -> None:
        self.raw = prompt.replace("\u2019", "'")
        self.low = self.raw.lower().replace("-", " ").replace("_", " ")
        self.used = [False] * len(self.raw)

    def free(self, start: int, end: int) -> bool:
        return not any(self.used[start:end])

    def take(self, start: int, end: int) -> None:
        self.used[start:end] = [True] * (end - start)

    def matches(self, pattern: re.Pattern[str], *, raw: bool = False) -> Iterator[re.Match[str]]:
        """Matches not overlapping anything consumed; each one found is consumed."""
        for match in pattern.finditer(self.raw if raw else self.low):
            if self.free(*match.span()):
                self.take(*match.span())
                yield match

    def phrases(self, vocabulary: set[str] | frozenset[str]) -> Iterator[tuple[int, str]]:
        """(position, phrase) for each vocabulary phrase in the text, longest phrases first, consumed."""
        for phrase in sorted(vocabulary, key=lambda p: (-len(p), p)):
            yield from ((match.start(), phrase) for match in self.matches(_phrase_pattern(phrase)))

    def unknown_words(self) -> tuple[str, ...]:
        words: list[str] = []
        for match in _WORD.finditer(self.low):
            word = match.group()
            if self.free(*match.span()) and word not in STOP_WORDS and word not in words:
                words.append(word)
        return tuple(words)


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """The phrase as a whole word or words; kept, as the vocabularies hold more phrases than re's own cache."""
    pattern = _PHRASE_PATTERNS.get(phrase)
    if pattern is None:
        pattern = _PHRASE_PATTERNS[phrase] = re.compile(r"(?<![\w#&'])" + re.escape(phrase) + r"(?![\w#&'])")
    return pattern


_PHRASE_PATTERNS: dict[str, re.Pattern[str]] = {}


def parse_prompt(prompt: str) -> PromptInfo:
    """Everything the prompt says; raises InvalidSongRequest(field="prompt") for values out of range."""
    text = _Text(prompt)
    chords = _chords(text)
    numerals = () if chords else _numerals(text)
    time_signature = _time_signature(text)  # before tempo and length: the numbers in "at 3/4" are no tempo
    genre, genre_bpm = _genre(text)  # before instruments: "future bass" is a genre, not a bass
    instruments, excluded = _instruments(text)  # before lengths: "808s" are basses, not 808 seconds
    structure = _structure(text)
    bars, seconds = _length(text)
    bpm = _tempo(text)
    key = _key(text)
    mood = _mood(text)
    return PromptInfo(
        genre=genre,
        bpm=bpm if bpm is not None else genre_bpm,
        key=key,
        bars=bars,
        seconds=seconds,
        time_signature=time_signature,
        instruments=instruments,
        beat=bool(_BEAT.search(text.low)),
        excluded=excluded,
        chords=chords,
        numerals=numerals,
        structure=structure,
        mood=mood,
        unknown_words=text.unknown_words(),
    )


def _chords(text: _Text) -> tuple[Chord, ...]:
    """The first run of two or more chord symbols ('Am Dm G C', 'Am-F-C-G') as the progression."""
    runs: list[list[tuple[re.Match[str], Chord]]] = [[]]
    for match in _CHORD_TOKEN.finditer(text.raw):
        slash = match.group(2) is not None
        chord = parse_chord_symbol(match.group(1), match.group(2)) if slash else parse_chord_symbol(match.group())
        before = text.raw[match.start() - 1] if match.start() else " "
        after = text.raw[match.end()] if match.end() < len(text.raw) else " "
        if chord is None or before.isalnum() or after.isalnum():
            runs.append([])
            continue
        run = runs[-1]
        if run and not _CHORD_GAP.fullmatch(text.raw[run[-1][0].end() : match.start()]):
            runs.append(run := [])
        run.append((match, chord))
    progression = next((run for run in runs if len(run) >= 2), [])
    for match, _ in progression:
        text.take(*match.span())
    return tuple(chord for _, chord in progression)


def _numerals(text: _Text) -> tuple[Numeral, ...]:
    """The first run of two or more Roman numerals ('i-VI-III-VII', 'ii V I'): a lone 'I' is only a word."""
    runs: list[list[tuple[re.Match[str], Numeral]]] = [[]]
    for match in NUMERAL.finditer(text.raw):
        numeral = parse_numeral(match)
        run = runs[-1]
        if numeral is None:
            runs.append([])
            continue
        if run and not _CHORD_GAP.fullmatch(text.raw[run[-1][0].end() : match.start()]):
            runs.append(run := [])
        run.append((match, numeral))
    progression = next((run for run in runs if len(run) >= 2), [])
    for match, _ in progression:
        text.take(*match.span())
    return tuple(numeral for _, numeral in progression)


def _time_signature(text: _Text) -> str | None:
    """The first meter written out ("3/4", "in 6/8 time") or implied by a word ("waltz")."""
    found = [(match.start(), match.group(1)) for match in text.matches(_METER)]
    found += [(position, METER_WORDS[word]) for position, word in text.phrases(frozenset(METER_WORDS))]
    return min(found)[1] if found else None


def _length(text: _Text) -> tuple[int | None, float | None]:
    bars = seconds = None
    list(text.matches(_DECADE))  # "90s" is an era, not ninety seconds: consumed so it is neither
    for match in text.matches(_BARS):
        bars = int(match.group(1))
        check_bars("prompt", bars)
    parts = {}  # "2 min 30 s": minutes and seconds add up
    for pattern, scale in ((_SECONDS, 1.0), (_MINUTES, 60.0)):
        for match in text.matches(pattern):
            parts[scale] = float(match.group(1)) * scale
            check_seconds("prompt", parts[scale])
    if parts:
        seconds = sum(parts.values())
        check_seconds("prompt", seconds)
    if bars is not None:
        seconds = None  # a prompt naming both: bars are the more precise
    return bars, seconds


def _tempo(text: _Text) -> float | None:
    """A BPM number, else the first tempo marking ("Allegro"); every marking is read, so none is an unknown word."""
    bpm = _tempo_number(text)
    markings = sorted(text.phrases(frozenset(TEMPO_MARKINGS)))
    if bpm is None and markings:
        return TEMPO_MARKINGS[markings[0][1]]
    return bpm


def _tempo_number(text: _Text) -> float | None:
    for pattern in _TEMPO_PATTERNS:
        for match in text.matches(pattern):
            bpm = float(match.group(1))
            check_bpm("prompt", bpm)
            return bpm
    for match in _BARE_TEMPO.finditer(text.low):
        if text.free(*match.span()) and BARE_TEMPO_RANGE[0] <= float(match.group(1)) <= BARE_TEMPO_RANGE[1]:
            text.take(*match.span())
            return float(match.group(1))
    return None


def _key(text: _Text) -> KeyMention | None:
    for match in text.matches(_KEY_WITH_MODE, raw=True):
        letter, accidental, mode = match.groups()
        return _mention(letter, accidental, MODE_WORDS[mode.lower()])
    for pattern, mode in ((_KEY_SHORT_MINOR, "minor"), (_KEY_TONIC_ONLY, None), (_KEY_OF_LOWER, None)):
        for match in text.matches(pattern, raw=pattern is not _KEY_OF_LOWER):
            return _mention(match.group(1), match.group(2), mode)
    return None


def _mention(letter: str, accidental: str | None, mode: str | None) -> KeyMention:
    word = (accidental or "").strip().lower()
    sign = {"sharp": "#", "flat": "b"}.get(word, normalise_accidental(word))
    return KeyMention(pitch_class(letter, sign), sign, mode)


def _genre(text: _Text) -> tuple[Genre | None, float | None]:
    """The genre named first, and a tempo written right after a genre name ('house 125', not 'trap 808')."""
    by_phrase = {phrase: genre for genre in GENRES for phrase in genre.phrases}
    found = sorted(text.phrases(frozenset(by_phrase)))
    if not found:
        return None, None
    for position, phrase in found:
        tail = re.compile(r"\s+" + r"(\d{2,3}(?:\.\d+)?)" + _END + _LENGTH_UNIT)
        match = tail.match(text.low, position + len(phrase))
        if match and text.free(*match.span()) and MIN_BPM <= float(match.group(1)) <= MAX_BPM:
            text.take(*match.span())
            return by_phrase[found[0][1]], float(match.group(1))
    return by_phrase[found[0][1]], None


def _instruments(text: _Text) -> tuple[tuple[InstrumentWord, ...], frozenset[Role]]:
    """The instruments named, in the prompt's order (drums among them), and the roles a negation leaves out."""
    wanted: list[tuple[int, InstrumentWord]] = []
    excluded: set[Role] = set()
    for position, phrase in text.phrases(frozenset(INSTRUMENT_WORDS) | DRUM_WORDS | frozenset(ROLE_WORDS)):
        if phrase in DRUM_WORDS:
            roles: tuple[Role, ...] = ("drums",)
        elif phrase in INSTRUMENT_WORDS:
            roles = INSTRUMENT_WORDS[phrase].roles
        else:
            roles = (ROLE_WORDS[phrase],)
        negation = re.search(r"(?:^|\s)(" + "|".join(NEGATIONS) + r")\s+$", text.low[:position])
        if negation:
            text.take(negation.start(1), negation.end(1))
            excluded.add(roles[0])
        elif phrase in INSTRUMENT_WORDS:
            wanted.append((position, INSTRUMENT_WORDS[phrase]))
    return tuple(word for _, word in sorted(wanted, key=lambda item: item[0])), frozenset(excluded)


def _structure(text: _Text) -> Structure | None:
    """The sections the prompt names ("with an intro and a drop"), leaves out ("no outro") or keeps to alone
    ("just the drop", "chorus only", "a 16 bar loop"); None when it names none."""
    wanted: set[str] = set()
    excluded: set[str] = set()
    only = False
    for position, phrase in text.phrases(frozenset(SECTION_WORDS) | LOOP_WORDS):
        if phrase in LOOP_WORDS:
            only = True
            continue
        negation = re.search(r"(?:^|\s)(" + "|".join(NEGATIONS) + r")\s+$", text.low[:position])
        if negation:
            text.take(negation.start(1), negation.end(1))
            excluded.add(SECTION_WORDS[phrase])
            continue
        wanted.add(SECTION_WORDS[phrase])
        after = _ONLY_AFTER.match(text.low, position + len(phrase))
        only = only or bool(_ONLY_BEFORE.search(text.low[:position]) or after)
    if not (wanted or excluded or only):
        return None
    return Structure(tuple(name for name in SECTION_ORDER if name in wanted), frozenset(excluded), only)


def _mood(text: _Text) -> Mood:
    words = {phrase for _, phrase in text.phrases(MOOD_WORDS)}
    mode = "minor" if words & MINOR_MOODS else "major" if words & MAJOR_MOODS else None
    tempo = (1 if words & FAST_WORDS else 0) - (1 if words & SLOW_WORDS else 0)
    intensity = (1 if words & (LOUD_WORDS | FAST_WORDS) else 0) - (1 if words & SOFT_WORDS else 0)
    return Mood(mode, tempo, intensity, bool(words & SWING_WORDS))

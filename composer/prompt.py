"""Reads a producer's prompt: genre, tempo, key, length, time signature, instruments, chords, sections and moods.

Every word is either understood, a stop word, or reported back as unknown - never silently dropped."""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar

from composer.arrange import SECTION_ORDER, Structure
from composer.genres import GENRES, GENRES_BY_NAME, WEAK_PHRASES, Genre
from composer.instruments import DRUM_WORDS, INSTRUMENT_WORDS, InstrumentWord, Role
from composer.moods import MOODS, Mood, combine
from composer.numerals import NUMERAL, Numeral, parse_numeral
from composer.request import MAX_BPM, MIN_BPM, check_bars, check_bpm, check_seconds
from composer.score import NOTE_VALUES, meter_of
from composer.tempo import TEMPO_MARKINGS, TEMPO_WORDS, TempoWord
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
    "pace", "paced", "speed", "feels", "atmosphere", "atmospheres", "composition", "compositions", "short",
    "fragment", "lengthy", "revolve", "revolves", "revolving", "solo", "cue", "cues",
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

MOOD_WORDS = frozenset(MOODS)

_NUMBER = r"(\d+(?:\.\d+)?)"
_END = r"(?![\w#])"
_LENGTH_UNIT = r"(?!\s*(?:bars?|measures?|seconds?|secs?|s\b|minutes?|mins?|%))"
_TEMPO_PATTERNS = (
    re.compile(_NUMBER + r"\s*(?:bpm|beats per minute)" + _END),
    re.compile(r"\b(?:bpm|tempo)\s*(?:of|:|=|at|is)?\s*" + _NUMBER + _END),
    re.compile(r"\bat\s+" + _NUMBER + _END + _LENGTH_UNIT),
)
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
# A fraction of whole numbers, and the words that say it is a time signature ("the time signature is 6/4", "a 7/8
# time signature", "12/8 time"). Which fractions are meters `_time_signature` decides: "24/7" and "1/2 note" are not.
_METER = re.compile(
    r"(?<![\w/.])(?P<before>(?:time signature|meter)\s*(?:of\s+|is\s+|:\s*)?)?(?P<count>\d+)/(?P<value>\d+)"
    r"(?![\w/]|\.\d)(?P<after>\s+(?:time(?:\s+signature)?|meter)(?![\w#&']))?"
)
_NOTE_VALUE_AFTER = re.compile(r"\s*(?:notes?|triplets?)(?![\w#&'])")
METER_WORDS = {
    "waltz": "3/4", "waltzes": "3/4", "common time": "4/4", "cut time": "2/2", "alla breve": "2/2",
    "duple meter": "2/4", "duple time": "2/4", "triple meter": "3/4", "triple time": "3/4", "quadruple meter": "4/4",
    "quadruple time": "4/4",
}  # fmt: skip
_WORD = re.compile(r"[a-z0-9#&'\u266f\u266d]+")
# A chord symbol, or a slash chord ('G/B': G over a B bass) where the slash is not one of a chain ('Am/F/C/G' is a
# progression written with slashes between its chords).
_CHORD_TOKEN = re.compile(
    r"(?<!/)([A-G][#b\u266f\u266d]?[a-zA-Z0-9#()\u266f\u266d]*)/([A-G][#b\u266f\u266d]?)(?![\w#/\u266f\u266d])"
    r"|([A-G][#b\u266f\u266d]?[a-zA-Z0-9#()\u266f\u266d]*)"
)
_SIGNS = str.maketrans({"\u266f": "#", "\u266d": "b"})
# What stands between two chords of a list: a comma, bar line, slash, dash or arrow, and/or "and" ("Am, F, C and
# G", "Am, F, C, and G", "C | G | Am | F", "ii-V-I", "Am -> F"); any other word ends the list.
_CHORD_GAP = re.compile(r"\s*(?:[,|/\u2013\u2014\u2192>]|-+>?)?\s*(?:and\s+)?")
# The words a caption puts before its list ("the main chord progression is", "the chord sequence follows", "the
# harmonic progression revolves around", "chords of"): read with the list, so they are no unknown words.
_LIST_LEAD_IN = re.compile(
    r"(?<![\w'])(?:(?:the|its|their|a|an)\s+)?(?:(?:song|piece|track|tune|composition)'s\s+)?"
    r"(?:(?:main|primary|central|core|basic|underlying|recurring|repeating|repeated|harmonic|chordal|chord)\s+)*"
    r"(?:progression|sequence|changes|chords|harmony|harmonies|cycle|pattern)(?:\s+(?:used|here|throughout))?"
    r"(?:\s+(?:is|are|follows?|features?|revolves|cent(?:er|re)s?|consists|goes|runs|moves|cycles|alternates"
    r"|includes?|uses?|built|based|through|between|around|on|of|over))*\s*:?\s*$"
)
# Letters that name sections, not chords: "A and B sections", "an A B A form".
_FORM_AFTER = re.compile(r"\s*(?:sections?|parts?|form|themes?)(?![\w#&'])")
_ONLY_BEFORE = re.compile(r"(?:^|\s)(?:just|only)\s+(?:(?:the|a|an|one)\s+)?$")
_ONLY_AFTER = re.compile(r"\s+only(?![\w#&'])")


@dataclass(frozen=True)
class KeyMention:
    tonic: int
    accidental: str
    mode: str | None  # None when the prompt names only the tonic ("in A")


@dataclass(frozen=True)
class PromptInfo:
    genre: Genre | None = None
    blend: Genre | None = None  # a second genre named, which colours the first ("electronic with ambient elements")
    bpm: float | None = None
    tempo_word: TempoWord | None = None  # "slow", "very fast": a range the plan fits the genre's tempo into
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
        # A possessive is its noun ("children's song"); two spaces keep the text aligned with `raw`.
        self.low = re.sub(r"'s(?![\w#])", "  ", self.raw.lower().replace("-", " ").replace("_", " "))
        self.used = [False] * len(self.raw)
        self.ignored: list[str] = []  # what was read but is beyond what the composer writes ("17/8")

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
        words = list(self.ignored)
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
    genre, blend, genre_bpm = _genre(text)  # before instruments: "future bass" is a genre, not a bass
    instruments, excluded = _instruments(text)  # before lengths: "808s" are basses, not 808 seconds
    structure = _structure(text)
    bars, seconds = _length(text)
    bpm, tempo_word = _tempo(text)
    key = _key(text)
    mood = _mood(text)
    return PromptInfo(
        genre=genre,
        blend=blend,
        bpm=bpm if bpm is not None else genre_bpm,
        tempo_word=tempo_word if bpm is None and genre_bpm is None else None,
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
    """The first list of two or more chord symbols ('Am Dm G C', 'Am-F-C-G', 'A, E7, A7, D') as the progression."""
    found: list[tuple[re.Match[str], Chord | None]] = []
    for match in _CHORD_TOKEN.finditer(text.raw):
        slash = match.group(2) is not None
        symbol = (match.group(1) if slash else match.group()).translate(_SIGNS)
        chord = parse_chord_symbol(symbol, match.group(2).translate(_SIGNS)) if slash else parse_chord_symbol(symbol)
        before = text.raw[match.start() - 1] if match.start() else " "
        after = text.raw[match.end()] if match.end() < len(text.raw) else " "
        found.append((match, None if before.isalnum() or after.isalnum() else chord))
    return _first_list(text, found)


def _numerals(text: _Text) -> tuple[Numeral, ...]:
    """The first list of two or more Roman numerals ('i-VI-III-VII', 'ii V I'): a lone 'I' is only a word."""
    return _first_list(text, [(match, parse_numeral(match)) for match in NUMERAL.finditer(text.raw)])


Item = TypeVar("Item")


def _first_list(text: _Text, found: list[tuple[re.Match[str], Item | None]]) -> tuple[Item, ...]:
    """The first run of two or more items (None: a word that breaks a run) with only list punctuation between them
    and no section word after them, consumed with the words that introduce it."""
    runs: list[list[tuple[re.Match[str], Item]]] = [[]]
    for match, item in found:
        run = runs[-1]
        if item is None:
            runs.append([])
            continue
        if run and not _CHORD_GAP.fullmatch(text.raw[run[-1][0].end() : match.start()]):
            runs.append(run := [])
        run.append((match, item))
    lists = (run for run in runs if len(run) >= 2 and not _FORM_AFTER.match(text.low, run[-1][0].end()))
    chosen = next(lists, [])
    if chosen:
        text.take(chosen[0][0].start(), chosen[-1][0].end())
        lead_in = _LIST_LEAD_IN.search(text.low, 0, chosen[0][0].start())
        if lead_in:
            text.take(*lead_in.span())
    return tuple(item for _, item in chosen)


def _time_signature(text: _Text) -> str | None:
    """The first meter written out ("3/4", "in 6/8 time"), else one implied by words ("waltz", "cut time"). A time
    signature outside the range ("17/8", "a 1/4 time signature": a caption read off a MIDI file with a pickup bar)
    is an unknown word: the song is composed in the genre's meter rather than not at all."""
    found = []
    for match in _METER.finditer(text.low):
        if not text.free(*match.span()):
            continue
        count, value = int(match.group("count")), int(match.group("value"))
        said = match.group("before") is not None or match.group("after") is not None
        meter = meter_of(count, value)
        note_value = _NOTE_VALUE_AFTER.match(text.low, match.end()) is not None
        if not said and (note_value or (meter is None and (value not in NOTE_VALUES or count < 2))):
            continue  # a fraction that is no meter: "24/7", "1/2 note", "1/16 hats", "3/8 notes"
        text.take(*match.span())
        if meter is None:
            text.ignored.append(f"{count}/{value}")
            continue
        found.append((match.start(), meter.name))
    genre_names = {words for words in METER_WORDS if any(words in genre.phrases for genre in GENRES)}
    implied = [(at, METER_WORDS[words]) for at, words in text.phrases(frozenset(METER_WORDS) - genre_names)]
    for words in sorted(genre_names):  # a genre's name ("waltz") is left for `_genre` to read too
        pattern = re.compile(r"(?<![\w#&'])" + re.escape(words) + r"(?![\w#&'])")
        implied += [
            (match.start(), METER_WORDS[words]) for match in pattern.finditer(text.low) if text.free(*match.span())
        ]
    return min(found or implied)[1] if found or implied else None  # a meter written out wins over a word


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


def _tempo(text: _Text) -> tuple[float | None, TempoWord | None]:
    """A BPM number, else the first tempo marking ("Allegro"), else the first tempo word ("slow"); every one is
    read, so none is an unknown word."""
    bpm = _tempo_number(text)
    markings = sorted(text.phrases(frozenset(TEMPO_MARKINGS)))
    words = sorted(text.phrases(frozenset(TEMPO_WORDS)))
    if bpm is None and markings:
        bpm = TEMPO_MARKINGS[markings[0][1]]
    return bpm, TEMPO_WORDS[words[0][1]] if bpm is None and words else None


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


@dataclass(frozen=True)
class _GenreMention:
    position: int
    genre: Genre
    strong: bool  # a genre name, not a word that names one only alone ("film", "swing", "jazz" in "jazz piano")
    end: int


def _genre(text: _Text) -> tuple[Genre | None, Genre | None, float | None]:
    """The genre named first, a different one named after it that colours it (a blend), and a tempo written right
    after a genre name ('house 125', not 'trap 808'). A weak word names the genre only where no genre name does."""
    mentions = _genre_mentions(text)
    strong = [mention for mention in mentions if mention.strong]
    if not mentions:
        return None, None, None
    chosen = strong or mentions[:1]
    lead = chosen[0].genre
    colour = next((mention.genre for mention in chosen if mention.genre != lead), None)
    tail = re.compile(r"\s+" + r"(\d{2,3}(?:\.\d+)?)" + _END + _LENGTH_UNIT)
    for mention in chosen:
        match = tail.match(text.low, mention.end)
        if match and text.free(*match.span()) and MIN_BPM <= float(match.group(1)) <= MAX_BPM:
            text.take(*match.span())
            return lead, colour, float(match.group(1))
    return lead, colour, None


def _genre_mentions(text: _Text) -> list[_GenreMention]:
    """Every genre phrase in the prompt, in order. A genre word inside an instrument's name ('classical guitar',
    'rock organ') names the instrument, and one right before an instrument ('jazz piano', 'ambient pad') describes
    it: both are weak. A weak word that is also a mood word stays for the moods; the rest are consumed. A meter
    word already read as the time signature ('waltz') still names its genre."""
    strong = {phrase: genre for genre in GENRES for phrase in genre.phrases}
    weak = {phrase: GENRES_BY_NAME[name] for phrase, name in WEAK_PHRASES.items()}
    metered = {phrase for phrase, genre in strong.items() if genre.time_signature != "4/4"}
    named = [(match.start(), match.start() + len(match.group(1))) for match in _instrument_names().finditer(text.low)]
    mentions: list[_GenreMention] = []
    seen: list[tuple[int, int]] = []
    for phrase in sorted(strong | weak, key=lambda p: (-len(p), p)):
        for match in re.finditer(_bounded(phrase), text.low):
            start, end = match.span()
            if any(start < b and a < end for a, b in seen) or not (text.free(start, end) or phrase in metered):
                continue
            seen.append((start, end))
            in_instrument = any(a <= start and end <= b and b - a > end - start for a, b in named)
            describes = bool(_instrument_after().match(text.low, end))
            genre = strong[phrase] if phrase in strong else weak[phrase]
            mentions.append(_GenreMention(start, genre, phrase in strong and not (in_instrument or describes), end))
            if not in_instrument and phrase not in MOOD_WORDS:
                text.take(start, end)
    return sorted(mentions, key=lambda mention: mention.position)


@cache
def _bounded(phrase: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w#&'])" + re.escape(phrase) + r"(?![\w#&'])")


@cache
def _instrument_names() -> re.Pattern[str]:
    """Any instrument or drum word, longest first (overlapping names each found where they start)."""
    names = sorted(set(INSTRUMENT_WORDS) | DRUM_WORDS, key=lambda p: (-len(p), p))
    return re.compile(r"(?<![\w#&'])(?=(" + "|".join(map(re.escape, names)) + r")(?![\w#&']))")


@cache
def _instrument_after() -> re.Pattern[str]:
    names = sorted(set(INSTRUMENT_WORDS) | DRUM_WORDS, key=lambda p: (-len(p), p))
    return re.compile(r"\s+(?:" + "|".join(map(re.escape, names)) + r")(?![\w#&'])")


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
    return combine({phrase for _, phrase in text.phrases(MOOD_WORDS)})

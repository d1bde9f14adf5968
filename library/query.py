"""Reads a library search the way producers type it ("dark trap in G minor last week", "house 120-128 bpm stems")
into filters (key, tempo, genres, kinds, tags, a time window) and the words left for text ranking; and reads the
CLI's filter flags (`--bpm 130-150`, `--since yesterday`) into the same filters.

Keys and genres are the composer's own vocabulary (composer.theory, composer.genres): what the composer can be
asked for is what the library can be searched by."""

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from composer.genres import GENRES, GENRES_BY_NAME
from composer.prompt import BARE_TEMPO_RANGE
from composer.request import MAX_BPM, MIN_BPM
from composer.theory import MODE_WORDS, make_key, parse_key, pitch_class

# What made an item: one kind per MusicService call whose results the library keeps.
KINDS = ("compose", "generate_midi", "render", "transcribe", "separate", "generate_audio")
# Words that name a kind. A loop or a MIDI file can come from several kinds: those words stay for text ranking.
KIND_WORDS: dict[str, str] = {
    "composed": "compose", "composition": "compose", "compositions": "compose",
    "generated midi": "generate_midi", "text to midi": "generate_midi", "midi generation": "generate_midi",
    "render": "render", "renders": "render", "rendered": "render", "rendering": "render", "renderings": "render",
    "bounce": "render", "bounced": "render",
    "transcribe": "transcribe", "transcribed": "transcribe", "transcription": "transcribe",
    "transcriptions": "transcribe",
    "stem": "separate", "stems": "separate", "separated": "separate", "separation": "separate",
    "separations": "separate",
    "generated audio": "generate_audio", "audio generation": "generate_audio", "musicgen": "generate_audio",
} | {kind.replace("_", " "): kind for kind in KINDS}  # fmt: skip

EXACT_BPM_TOLERANCE = 1.0  # "140 bpm": a told tempo (from MIDI or audio) is within a beat per minute of it
AROUND_BPM_TOLERANCE = 0.05  # "around 120 bpm", "~120": a share either side (114-126)


class QueryError(ValueError):
    """A search or filter that cannot be read; `field` names it ("key", "bpm", "since", "query"...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Query:
    """What to look for. Each filter left empty matches everything; a tuple matches any one of its values."""

    words: str  # what is left of the text for text ranking after the filters were taken out
    key: str | None = None  # canonical (`canonical_key`), e.g. "G minor", "F# major"
    bpm_min: float | None = None
    bpm_max: float | None = None
    genres: tuple[str, ...] = ()  # composer genre names ("trap", "lo-fi hip-hop")
    kinds: tuple[str, ...] = ()  # of KINDS
    tags: tuple[str, ...] = ()
    since: datetime | None = None  # timezone-aware UTC
    until: datetime | None = None  # exclusive


def canonical_key(text: str) -> str | None:
    """'Gm', 'g min', 'G minor', 'A# minor', 'Bb minor' -> one spelling per tonic and mode ('G minor', 'Bb minor'), so
    that keys compare as strings; None when the text is not a key."""
    key = parse_key(text)
    return None if key is None else key_name(key.tonic, key.mode)


def key_name(tonic: int, mode: str) -> str:
    """The conventional spelling of a key (fewest accidentals; F# rather than Gb major)."""
    return make_key(tonic % 12, mode, "#" if tonic % 12 == 6 else "").name


# --- free text ------------------------------------------------------------------------------------------------


class _Text:
    """The search as written, its lower-case form (same length) and which characters a filter has consumed."""

    def __init__(self, text: str) -> None:
        self.raw = text.replace("\u2019", "'").replace("\u2013", "-").replace("\u2014", "-")
        self.low = self.raw.lower()
        self.used = [False] * len(self.raw)

    def matches(self, pattern: re.Pattern[str], *, raw: bool = False) -> list[re.Match[str]]:
        """The matches overlapping nothing consumed, each consumed."""
        return [match for match in pattern.finditer(self.raw if raw else self.low) if self.claim(match)]

    def claim(self, match: re.Match[str]) -> bool:
        """Consumes the match; False (and nothing consumed) when it overlaps something consumed already."""
        if any(self.used[match.start() : match.end()]):
            return False
        self.used[match.start() : match.end()] = [True] * (match.end() - match.start())
        return True

    def rest(self) -> str:
        kept = "".join(char if not used else " " for char, used in zip(self.raw, self.used, strict=True))
        return " ".join(kept.split()).strip(" ,;:-")


def parse_query(text: str, now: datetime) -> Query:
    """The filters a search names and the words left; `now` (aware) anchors "yesterday" and "3 days ago"."""
    found = _Text(text)
    since, until = _times(found, _utc(now))
    tags = tuple(match.group(1) for match in found.matches(_TAG))
    bpm_min, bpm_max = _tempo(found)
    key = _key(found)
    kinds = _unique(KIND_WORDS[_phrase(match.group())] for match in found.matches(_KIND))
    genres = _unique(_GENRE_OF_PHRASE[_phrase(match.group())] for match in found.matches(_GENRE))
    return Query(found.rest(), key, bpm_min, bpm_max, genres, kinds, tags, since, until)


def _unique(values: Iterator[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _phrase(text: str) -> str:
    return " ".join(text.replace("-", " ").replace("_", " ").split())


def _bounded(phrases: Iterable[str]) -> re.Pattern[str]:
    """Any of the phrases as whole words, longest first; a space in a phrase also matches a hyphen."""
    ordered = sorted(set(phrases), key=lambda phrase: (-len(phrase), phrase))
    alternatives = "|".join(re.escape(phrase).replace(r"\ ", r"[\s_-]+") for phrase in ordered)
    return re.compile(r"(?<![\w#&'])(?:" + alternatives + r")(?![\w#&'])")


# Only genre names: the composer's weak words ("film", "club", "minimal") name a genre only in a prompt naming none,
# and in a search they are better left to text ranking than made filters.
_GENRE_OF_PHRASE = {_phrase(phrase): genre.name for genre in GENRES for phrase in genre.phrases} | {
    _phrase(name): name for name in GENRES_BY_NAME
}
_GENRE = _bounded(_GENRE_OF_PHRASE)
_KIND = _bounded(KIND_WORDS)
_TAG = re.compile(r"(?:(?<![^\s,(])#|\btag(?:ged)?\s*[:=]?\s*)([a-z0-9][\w-]*)")

# Keys, as composer.prompt reads them: "G minor", "g min", "F# dorian", "E flat minor" in any case; "Gm", "F#m",
# "Bbm" with a capital; a tonic alone after "in" or "key of" ("in A", "key of Eb") is its major key.
_ACCIDENTAL = r"([#b\u266f\u266d]|\s+sharp|\s+flat)?"
_MODES = "|".join(sorted((word for word in MODE_WORDS if len(word) > 1), key=len, reverse=True))
_END = r"(?![\w#\u266f\u266d])"
_KEY_WITH_MODE = re.compile(r"(?<![\w#])(?:in\s+)?([a-g])" + _ACCIDENTAL + r"\s*(" + _MODES + r")" + _END)
_KEY_SHORT_MINOR = re.compile(r"(?<![\w#])(?:[Ii]n\s+)?([A-G])([#b\u266f\u266d]?)m" + _END)
_KEY_TONIC = re.compile(r"(?<![\w#])(?:[Ii]n|[Kk]ey(?:\s+of)?|[Kk]ey:)\s+([A-G])([#b\u266f\u266d]?)" + _END)


def _key(text: _Text) -> str | None:
    keys = [
        _named_key(match.group(1), match.group(2), MODE_WORDS[match.group(3)]) for match in text.matches(_KEY_WITH_MODE)
    ]
    keys += [_named_key(match.group(1), match.group(2), "minor") for match in text.matches(_KEY_SHORT_MINOR, raw=True)]
    keys += [_named_key(match.group(1), match.group(2), "major") for match in text.matches(_KEY_TONIC, raw=True)]
    if len(set(keys)) > 1:
        raise QueryError("query", f"names more than one key ({', '.join(dict.fromkeys(keys))}); search for one")
    return keys[0] if keys else None


def _named_key(letter: str, accidental: str | None, mode: str) -> str:
    word = (accidental or "").strip().lower()
    sign = {"sharp": "#", "flat": "b", "\u266f": "#", "\u266d": "b"}.get(word, word)
    return key_name(pitch_class(letter, sign), mode)


# Tempos: "140 bpm", "140bpm", "bpm 140", "130-150 bpm", "130 to 150 bpm", "around 120 bpm", "~120", "over 140 bpm",
# a bare "125".
_NUMBER = r"(\d{2,3}(?:\.\d+)?)"
_BPM_WORD = r"\s*(?:bpm|beats per minute)"
_AROUND = r"(?:(?:around|about|roughly|approx(?:imately)?|circa|~)\s*)"
_TEMPO_RANGE = re.compile(
    r"(?<![\w.])" + _NUMBER + r"\s*(?:-|to|\.\.)\s*" + _NUMBER + r"(?P<unit>" + _BPM_WORD + r")?(?![\w#&'/:%]|\.\d)"
)
_TEMPO_BOUND = re.compile(
    r"(?:(?P<above>over|above|faster than|at least|>=?)|(?P<below>under|below|slower than|at most|<=?))\s*"
    + _NUMBER
    + _BPM_WORD
    + r"\b"
)
_TEMPO = re.compile(
    r"(?<![\w.])(?P<around>" + _AROUND + r")?(?:" + _NUMBER + r"\s*(?:bpm|beats per minute)(?P<ish>ish)?\b"
    r"|(?:bpm|tempo)\s*(?:of|:|=|at|is)?\s*" + _NUMBER + r"\b)"
)
_BARE_TEMPO = re.compile(
    r"(?<![\w#&'./:])(?P<around>" + _AROUND + r")?" + _NUMBER + r"(?P<ish>ish)?(?![\w#&'/:%]|\.\d)"
)


def _tempo(text: _Text) -> tuple[float | None, float | None]:
    for match in _TEMPO_RANGE.finditer(text.low):
        # Without "bpm", a range is a tempo only where both ends are ("house 120-128", not "1990-2000").
        bare = not match.group("unit") and not all(_in_bare_range(number) for number in match.group(1, 2))
        if not bare and text.claim(match):
            low, high = sorted((_bpm("query", match.group(1)), _bpm("query", match.group(2))))
            return low, high
    for match in text.matches(_TEMPO_BOUND):
        bpm = _bpm("query", match.group(3))
        return (bpm, None) if match.group("above") else (None, bpm)
    for match in text.matches(_TEMPO):
        number = match.group(2) or match.group(4)
        return _window(_bpm("query", number), around=bool(match.group("around") or match.group("ish")))
    for match in _BARE_TEMPO.finditer(text.low):
        if _in_bare_range(match.group(2)) and text.claim(match):
            return _window(float(match.group(2)), around=bool(match.group("around") or match.group("ish")))
    return None, None


def _in_bare_range(number: str) -> bool:
    """A number standing alone is a tempo where the composer reads one in a prompt ("house 125"; not 808, "top 40")."""
    return BARE_TEMPO_RANGE[0] <= float(number) <= BARE_TEMPO_RANGE[1]


def _bpm(field: str, number: str) -> float:
    bpm = float(number)
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise QueryError(field, f"{number} BPM is outside {MIN_BPM}-{MAX_BPM}")
    return bpm


def _window(bpm: float, *, around: bool) -> tuple[float, float]:
    tolerance = bpm * AROUND_BPM_TOLERANCE if around else EXACT_BPM_TOLERANCE
    return bpm - tolerance, bpm + tolerance


# --- times ----------------------------------------------------------------------------------------------------

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNITS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1), "month": timedelta(days=30)}
_UNIT_LETTERS = {"h": "hour", "d": "day", "w": "week"}
_UNIT = r"(hour|day|week|month)s?"
_COUNT = r"(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten)"
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
           "nine": 9, "ten": 10}  # fmt: skip
_ISO_DATE = r"(\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2})?(?:z|[+-]\d{2}:?\d{2})?)?)"
# One expression of a time, as a window [start, end) (end None: up to now).
_MOMENT = (
    r"(?:today|yesterday|tonight|(?:this|last|past|previous)\s+(?:week|month|year)"
    r"|(?:last\s+|on\s+)?(?:" + "|".join(_WEEKDAYS) + r")"
    r"|(?:(?:in\s+)?(?:the\s+)?(?:last|past)\s+)" + _COUNT + r"\s+" + _UNIT + r"|" + _COUNT + r"\s+" + _UNIT + r"\s+ago"
    r"|(?:on\s+)?" + _ISO_DATE + r")"
)
_TIME = re.compile(r"(?<![\w-])(?P<since>(?:since|after|from)\s+)?(?P<before>(?:before|until|till)\s+)?(?P<moment>"
                   + _MOMENT + r")(?![\w:-])")  # fmt: skip


def _times(text: _Text, now: datetime) -> tuple[datetime | None, datetime | None]:
    since: datetime | None = None
    until: datetime | None = None
    for match in text.matches(_TIME):
        try:
            start, end = moment(match.group("moment"), now)
        except ValueError as error:
            raise QueryError("query", str(error)) from None
        if match.group("before"):
            until = start if until is None else min(until, start)
        else:
            since = start if since is None else max(since, start)
            if not match.group("since") and end is not None:
                until = end if until is None else min(until, end)
    if since is not None and until is not None and since >= until:
        raise QueryError("query", "its times leave no window (the start is after the end)")
    return since, until


def moment(text: str, now: datetime) -> tuple[datetime, datetime | None]:
    """A time expression as the window it names, [start, end) in UTC with end None for "up to now": "today",
    "yesterday", "this week", "last week" (from the previous week's Monday), "last month", "monday" (the last one),
    "3 days ago" (that day), "last 3 days", "2026-11-27" (that day), "2026-11-27T10:00Z". Raises ValueError."""
    words = " ".join(text.lower().replace("the ", "").split()).removeprefix("in ").removeprefix("on ")
    today = datetime.combine(now.date(), time(), UTC)
    for reader in (_named_moment, _counted_moment, _weekday_moment):
        window = reader(words, now, today)
        if window is not None:
            return window
    return _iso_moment(words)


def _named_moment(words: str, now: datetime, today: datetime) -> tuple[datetime, datetime | None] | None:
    week = today - timedelta(days=today.weekday())
    month = today.replace(day=1)
    previous_month = (month - timedelta(days=1)).replace(day=1)
    windows: dict[str, tuple[datetime, datetime | None]] = {
        "today": (today, None),
        "tonight": (today, None),
        "yesterday": (today - timedelta(days=1), today),
        "this week": (week, None),
        # "that beat from last week" may be one from the week before or from a few days ago: both are kept.
        "last week": (week - timedelta(weeks=1), None),
        "past week": (now - timedelta(weeks=1), None),
        "previous week": (week - timedelta(weeks=1), week),
        "this month": (month, None),
        "last month": (previous_month, None),
        "past month": (now - timedelta(days=30), None),
        "previous month": (previous_month, month),
        "this year": (today.replace(month=1, day=1), None),
        "last year": (today.replace(year=today.year - 1, month=1, day=1), None),
        "past year": (now - timedelta(days=365), None),
        "previous year": (today.replace(year=today.year - 1, month=1, day=1), today.replace(month=1, day=1)),
    }
    return windows.get(words)


def _counted_moment(words: str, now: datetime, today: datetime) -> tuple[datetime, datetime | None] | None:
    match = re.fullmatch(r"(?:last|past)\s+" + _COUNT + r"\s+" + _UNIT + r"|" + _COUNT + r"\s+" + _UNIT + r"(\s+ago)",
                         words)  # fmt: skip
    if match is None:
        return None
    if match.group(1):
        return now - _count(match.group(1)) * _UNITS[match.group(2)], None
    span = _UNITS[match.group(4)]
    start = now - _count(match.group(3)) * span
    # "3 days ago" is that day, "2 weeks ago" the week from that day, "5 hours ago" that hour.
    start = start.replace(minute=0, second=0, microsecond=0) if span < timedelta(days=1) else _day(start)
    return start, start + span


def _weekday_moment(words: str, now: datetime, today: datetime) -> tuple[datetime, datetime | None] | None:
    name = words.removeprefix("last ")
    if name not in _WEEKDAYS:
        return None
    back = (today.weekday() - _WEEKDAYS.index(name)) % 7 or (7 if words.startswith("last ") else 0)
    start = today - timedelta(days=back)
    return start, start + timedelta(days=1)


def _iso_moment(words: str) -> tuple[datetime, datetime | None]:
    try:
        when = datetime.fromisoformat(words.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{words!r} is no time this reads") from None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", words):
        start = datetime.combine(date.fromisoformat(words), time(), UTC)
        return start, start + timedelta(days=1)
    return _utc(when), None


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _COUNTS[word]


def _day(when: datetime) -> datetime:
    return datetime.combine(when.date(), time(), UTC)


def _utc(when: datetime) -> datetime:
    """Aware times in UTC; a naive one is taken to be UTC already."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# --- flags ----------------------------------------------------------------------------------------------------


def with_filters(
    query: Query,
    *,
    key: str | None = None,
    bpm: str | None = None,
    genre: str | None = None,
    since: str | None = None,
    tag: str | None = None,
    kind: str | None = None,
    now: datetime,
) -> Query:
    """The query with the CLI's flags applied; a flag given replaces what the text said for its filter (as a
    composer request's fields override its prompt). Lists are comma-separated ("--genre trap,drill"). Raises
    QueryError naming the flag."""
    changes: dict[str, object] = {}
    if key is not None:
        changes["key"] = _flag_key(key)
    if bpm is not None:
        changes["bpm_min"], changes["bpm_max"] = _flag_bpm(bpm)
    if genre is not None:
        changes["genres"] = _flag_list("genre", genre, _flag_genre)
    if since is not None:
        changes["since"] = _flag_since(since, _utc(now))
        changes["until"] = None
    if tag is not None:
        changes["tags"] = _flag_list("tag", tag, lambda value: value.lstrip("#"))
    if kind is not None:
        changes["kinds"] = _flag_list("kind", kind, _flag_kind)
    return replace(query, **changes)  # type: ignore[arg-type]


def _flag_key(text: str) -> str:
    key = canonical_key(text.strip().removeprefix("in ").strip())
    if key is None:
        raise QueryError("key", f"{text!r} is not a key (e.g. 'G minor', 'Gm', 'F# major', 'Bb')")
    return key


_FLAG_BPM = re.compile(r"(?P<around>~|around\s*)?(\d+(?:\.\d+)?)(?:\s*(?:-|\.\.|to)\s*(\d+(?:\.\d+)?))?\s*(?:bpm)?")


def _flag_bpm(text: str) -> tuple[float, float]:
    match = _FLAG_BPM.fullmatch(text.strip().lower())
    if match is None:
        raise QueryError("bpm", f"{text!r} is not a tempo (e.g. 140, 130-150, ~120)")
    low = _bpm("bpm", match.group(2))
    if match.group(3) is None:
        return _window(low, around=bool(match.group("around")))
    high = _bpm("bpm", match.group(3))
    return min(low, high), max(low, high)


def _flag_genre(text: str) -> str:
    name = _GENRE_OF_PHRASE.get(_phrase(text.lower()))
    if name is None:
        raise QueryError(
            "genre", f"{text!r} is no genre the composer knows (e.g. {', '.join(list(GENRES_BY_NAME)[:4])})"
        )
    return name


def _flag_kind(text: str) -> str:
    kind = text.strip().lower().replace("-", "_")
    if kind not in KINDS:
        raise QueryError("kind", f"{text!r} is not one of {', '.join(KINDS)}")
    return kind


def _flag_since(text: str, now: datetime) -> datetime:
    """'2026-11-27', '7d', '24h', '2w', 'yesterday', 'last week', '3 days ago', 'monday' -> where it starts."""
    words = text.strip().lower()
    short = re.fullmatch(r"(\d+)\s*([hdw])", words)
    if short:
        return now - int(short.group(1)) * _UNITS[_UNIT_LETTERS[short.group(2)]]
    try:
        return moment(words, now)[0]
    except ValueError:
        raise QueryError("since", f"{text!r} is not a time (e.g. 2026-11-27, 7d, yesterday, 'last week')") from None


def _flag_list(field: str, text: str, read: Callable[[str], str]) -> tuple[str, ...]:
    values = [value.strip() for value in text.split(",") if value.strip()]
    if not values:
        raise QueryError(field, "is empty")
    return _unique(read(value) for value in values)

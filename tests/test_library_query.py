"""Library searches as producers type them, and the CLI's filter flags (library.query)."""

from datetime import UTC, datetime, timedelta

import pytest

from library.query import KINDS, Query, QueryError, canonical_key, parse_query, with_filters

NOW = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)  # a Friday
TODAY = datetime(2026, 12, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("G minor", "G minor"),
        ("Gm", "G minor"),
        ("g min", "G minor"),
        ("F#m", "F# minor"),
        ("Bb major", "Bb major"),
        ("in A", "A major"),
        ("E flat minor", "Eb minor"),
        ("A# minor", "Bb minor"),  # one spelling per key, so that keys compare as strings
        ("Gb major", "F# major"),
        ("D dorian", "D dorian"),
        ("a minor", "A minor"),
        ("key of Eb", "Eb major"),
    ],
)
def test_a_key_in_every_spelling_the_composer_accepts_is_one_canonical_key(text: str, key: str) -> None:
    query = parse_query(f"dark {text} beat", NOW)
    assert query.key == key
    assert query.words == "dark beat"


def test_canonical_key_is_none_for_what_is_not_a_key() -> None:
    assert canonical_key("H minor") is None
    assert canonical_key("Gm") == "G minor"


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("140 bpm", 139, 141),
        ("140bpm", 139, 141),
        ("140 BPM", 139, 141),
        ("bpm 140", 139, 141),
        ("130-150 bpm", 130, 150),
        ("130 to 150 bpm", 130, 150),
        ("150-130 bpm", 130, 150),
        ("house 120-128", 120, 128),
        ("around 120 bpm", 114, 126),
        ("~120 bpm", 114, 126),
        ("120ish", 114, 126),
        ("house 125", 124, 126),
        ("over 140 bpm", 140, None),
        ("under 100 bpm", None, 100),
    ],
)
def test_tempos_become_a_window(text: str, low: float | None, high: float | None) -> None:
    query = parse_query(text, NOW)
    assert (query.bpm_min, query.bpm_max) == (low, high)


def test_numbers_that_are_no_tempo_stay_words() -> None:
    query = parse_query("808 top 40 from 1990-2000", NOW)
    assert (query.bpm_min, query.bpm_max) == (None, None)
    assert query.words == "808 top 40 from 1990-2000"


def test_a_tempo_out_of_range_is_refused_naming_the_query() -> None:
    with pytest.raises(QueryError) as error:
        parse_query("trap 900 bpm", NOW)
    assert error.value.field == "query"


def test_genres_are_the_composers_and_their_phrases_name_them() -> None:
    assert parse_query("lofi hip hop and boom-bap", NOW).genres == ("lo-fi hip-hop", "boom bap")
    assert parse_query("drum and bass", NOW).genres == ("drum and bass",)
    # Weak words ("progressive", "club") name no genre in a search: they are left for text ranking.
    query = parse_query("progressive club", NOW)
    assert (query.genres, query.words) == ((), "progressive club")


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("the stems of that house track", ("separate",)),
        ("separated vocals", ("separate",)),
        ("transcribed piano", ("transcribe",)),
        ("my transcriptions", ("transcribe",)),
        ("the organ loop I rendered", ("render",)),
        ("generate_midi and generated audio", ("generate_midi", "generate_audio")),
        ("an organ loop", ()),  # a loop can be of any kind
    ],
)
def test_words_for_what_made_an_item_name_its_kind(text: str, kinds: tuple[str, ...]) -> None:
    assert parse_query(text, NOW).kinds == kinds


@pytest.mark.parametrize(
    ("text", "since", "until"),
    [
        ("today", TODAY, None),
        ("yesterday", TODAY - timedelta(days=1), TODAY),
        ("this week", TODAY - timedelta(days=4), None),
        ("last week", TODAY - timedelta(days=11), None),
        ("last month", datetime(2026, 11, 1, tzinfo=UTC), None),
        ("3 days ago", TODAY - timedelta(days=3), TODAY - timedelta(days=2)),
        ("in the last 3 days", NOW - timedelta(days=3), None),
        ("since monday", TODAY - timedelta(days=4), None),
        ("on 2026-11-27", datetime(2026, 11, 27, tzinfo=UTC), datetime(2026, 11, 28, tzinfo=UTC)),
        ("since 2026-11-27", datetime(2026, 11, 27, tzinfo=UTC), None),
        ("before 2026-11-27", None, datetime(2026, 11, 27, tzinfo=UTC)),
        ("last friday", TODAY - timedelta(days=7), TODAY - timedelta(days=6)),
    ],
)
def test_times_become_a_utc_window(text: str, since: datetime | None, until: datetime | None) -> None:
    query = parse_query(f"organ {text}", NOW)
    assert (query.since, query.until) == (since, until)
    assert query.words == "organ"


def test_the_whole_search_of_the_issue() -> None:
    query = parse_query("dark trap beat in G minor from last week", NOW)
    assert query == Query(words="dark", key="G minor", genres=("trap",), since=TODAY - timedelta(days=11))


def test_tags_are_hashtags_or_tag_colon_and_a_sharp_is_no_tag() -> None:
    query = parse_query("F#m pad #chill tag:study", NOW)
    assert (query.key, query.tags, query.words) == ("F# minor", ("chill", "study"), "pad")


def test_two_different_keys_are_refused() -> None:
    with pytest.raises(QueryError, match="more than one key"):
        parse_query("G minor or A minor", NOW)


def test_flags_replace_what_the_text_said() -> None:
    query = with_filters(
        parse_query("trap in A minor 90 bpm", NOW),
        key="g min",
        bpm="130-150",
        genre="drill, lofi",
        since="yesterday",
        tag="#chill",
        kind="compose,generate-audio",
        now=NOW,
    )
    assert query == Query(
        words="",
        key="G minor",
        bpm_min=130,
        bpm_max=150,
        genres=("drill", "lo-fi hip-hop"),
        kinds=("compose", "generate_audio"),
        tags=("chill",),
        since=TODAY - timedelta(days=1),
    )


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("2026-11-27", datetime(2026, 11, 27, tzinfo=UTC)),
        ("7d", NOW - timedelta(days=7)),
        ("24h", NOW - timedelta(hours=24)),
        ("2w", NOW - timedelta(weeks=2)),
        ("yesterday", TODAY - timedelta(days=1)),
        ("last week", TODAY - timedelta(days=11)),
        ("3 days ago", TODAY - timedelta(days=3)),
        ("2026-11-27T10:00:00+01:00", datetime(2026, 11, 27, 9, tzinfo=UTC)),
    ],
)
def test_since_flag(since: str, expected: datetime) -> None:
    assert with_filters(Query(""), since=since, now=NOW).since == expected


def test_bpm_flag_alone_and_around() -> None:
    query = with_filters(Query(""), bpm="140", now=NOW)
    assert (query.bpm_min, query.bpm_max) == (139, 141)
    query = with_filters(Query(""), bpm="~120", now=NOW)
    assert (query.bpm_min, query.bpm_max) == (114, 126)


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("bpm", "fast"),
        ("bpm", "10-20"),
        ("bpm", "130-"),
        ("key", "H minor"),
        ("key", "G superlocrian"),
        ("since", "the other day"),
        ("since", "2026-13-45"),
        ("kind", "mastering"),
        ("genre", "yodel"),
        ("tag", " , "),
    ],
)
def test_a_malformed_flag_is_refused_naming_it(flag: str, value: str) -> None:
    with pytest.raises(QueryError) as error:
        with_filters(Query(""), now=NOW, **{flag: value})
    assert error.value.field == flag


def test_every_kind_is_a_valid_kind_flag() -> None:
    for kind in KINDS:
        assert with_filters(Query(""), kind=kind, now=NOW).kinds == (kind,)

"""Song form: the genre's section template fitted to the requested number of bars, with an energy curve."""

from dataclasses import dataclass

from composer.genres import Form
from composer.instruments import Role


@dataclass(frozen=True)
class Section:
    name: str
    start_bar: int
    bars: int
    energy: float  # 0 silent .. 1 everything at full tilt

    @property
    def end_bar(self) -> int:
        return self.start_bar + self.bars


@dataclass(frozen=True)
class _Slot:
    name: str
    bars: int  # length in the full-size (64-bar-ish) template
    priority: int  # 1 = kept first when the song is short


@dataclass(frozen=True)
class Structure:
    """The sections a prompt asks for by name."""

    wanted: tuple[str, ...] = ()  # section kinds named, each once, in SECTION_ORDER
    excluded: frozenset[str] = frozenset()  # "no intro", "without outro"
    only: bool = False  # "just the drop", "drop only", "16 bar loop": these sections and nothing more


ENERGY = {"intro": 0.3, "verse": 0.65, "chorus": 0.85, "build": 0.6, "drop": 1.0, "breakdown": 0.35,
          "bridge": 0.5, "outro": 0.3}  # fmt: skip
SECTION_ORDER = ("intro", "verse", "build", "chorus", "drop", "bridge", "breakdown", "outro")
# For sections a prompt names: length where the genre's template has no such section, and which to keep first
# when the song is too short for all of them.
SECTION_BARS = {"intro": 4, "verse": 8, "chorus": 8, "build": 4, "drop": 16, "breakdown": 8, "bridge": 8,
                "outro": 4}  # fmt: skip
SECTION_PRIORITY = {"drop": 1, "chorus": 1, "verse": 2, "intro": 3, "build": 4, "bridge": 5, "breakdown": 5,
                    "outro": 6}  # fmt: skip
TEMPLATES: dict[Form, tuple[_Slot, ...]] = {
    "beat": (
        _Slot("intro", 4, 2),
        _Slot("verse", 16, 1),
        _Slot("chorus", 8, 3),
        _Slot("verse", 16, 5),
        _Slot("chorus", 8, 4),
        _Slot("outro", 4, 6),
    ),
    "club": (
        _Slot("intro", 8, 2),
        _Slot("build", 4, 4),
        _Slot("drop", 16, 1),
        _Slot("breakdown", 8, 5),
        _Slot("build", 4, 6),
        _Slot("drop", 16, 3),
        _Slot("outro", 8, 7),
    ),
    "song": (
        _Slot("intro", 4, 3),
        _Slot("verse", 8, 2),
        _Slot("chorus", 8, 1),
        _Slot("verse", 8, 5),
        _Slot("chorus", 8, 6),
        _Slot("breakdown", 4, 7),
        _Slot("chorus", 8, 8),
        _Slot("outro", 4, 4),
    ),
    "ambient": (
        _Slot("intro", 4, 2),
        _Slot("verse", 8, 1),
        _Slot("breakdown", 4, 4),
        _Slot("verse", 8, 5),
        _Slot("outro", 4, 3),
    ),
    # A theme, its climax, a contrasting bridge and the climax again: classical and film music.
    "orchestral": (
        _Slot("intro", 4, 3),
        _Slot("verse", 8, 1),
        _Slot("chorus", 8, 2),
        _Slot("bridge", 8, 5),
        _Slot("chorus", 8, 4),
        _Slot("outro", 4, 6),
    ),
}
# Which parts play in each kind of section: sparse intros and breakdowns, everything in drops and choruses.
SECTION_ROLES: dict[Form, dict[str, frozenset[Role]]] = {
    "beat": {
        "intro": frozenset({"chords", "lead", "pad", "fx"}),
        "verse": frozenset({"drums", "bass", "chords", "lead", "fx"}),
        "chorus": frozenset({"drums", "bass", "chords", "lead", "pad", "fx"}),
        "outro": frozenset({"chords", "pad", "fx"}),
        "build": frozenset({"drums", "chords", "lead", "fx"}),
        "drop": frozenset({"drums", "bass", "chords", "lead", "pad", "fx"}),
        "breakdown": frozenset({"chords", "pad", "lead", "fx"}),
        "bridge": frozenset({"bass", "chords", "lead", "pad", "fx"}),
    },
    "club": {
        "intro": frozenset({"drums", "pad", "fx"}),
        "build": frozenset({"drums", "chords", "lead", "fx"}),
        "drop": frozenset({"drums", "bass", "chords", "lead", "fx"}),
        "breakdown": frozenset({"chords", "pad", "lead", "fx"}),
        "outro": frozenset({"drums", "bass", "pad", "fx"}),
        "verse": frozenset({"drums", "bass", "chords", "fx"}),
        "chorus": frozenset({"drums", "bass", "chords", "lead", "pad", "fx"}),
        "bridge": frozenset({"bass", "chords", "lead", "pad", "fx"}),
    },
    "song": {
        "intro": frozenset({"chords", "pad", "fx"}),
        "verse": frozenset({"drums", "bass", "chords", "lead", "fx"}),
        "chorus": frozenset({"drums", "bass", "chords", "lead", "pad", "fx"}),
        "breakdown": frozenset({"chords", "pad", "lead", "fx"}),
        "outro": frozenset({"drums", "chords", "pad", "fx"}),
        "build": frozenset({"drums", "chords", "lead", "fx"}),
        "drop": frozenset({"drums", "bass", "chords", "lead", "pad", "fx"}),
        "bridge": frozenset({"bass", "chords", "lead", "pad", "fx"}),
    },
    "ambient": {
        "intro": frozenset({"pad", "fx"}),
        "verse": frozenset({"drums", "bass", "chords", "lead", "pad", "fx"}),
        "breakdown": frozenset({"chords", "pad", "fx"}),
        "outro": frozenset({"pad", "lead", "fx"}),
        "chorus": frozenset({"drums", "bass", "chords", "lead", "pad", "fx"}),
        "build": frozenset({"drums", "chords", "pad", "fx"}),
        "drop": frozenset({"drums", "bass", "chords", "lead", "pad", "fx"}),
        "bridge": frozenset({"chords", "pad", "lead", "fx"}),
    },
    "orchestral": {
        "intro": frozenset({"chords", "pad", "fx"}),
        "verse": frozenset({"drums", "bass", "chords", "lead", "pad", "fx"}),
        "chorus": frozenset({"drums", "bass", "chords", "lead", "pad", "fx"}),
        "bridge": frozenset({"bass", "chords", "lead", "pad", "fx"}),
        "outro": frozenset({"bass", "chords", "pad", "fx"}),
        "build": frozenset({"drums", "bass", "chords", "pad", "fx"}),
        "drop": frozenset({"drums", "bass", "chords", "lead", "pad", "fx"}),
        "breakdown": frozenset({"chords", "pad", "lead", "fx"}),
    },
}


def plays(form: Form, section: Section, role: Role) -> bool:
    return role in SECTION_ROLES[form][section.name]


def arrange(form: Form, bars: int, structure: Structure | None = None) -> tuple[Section, ...]:
    """Sections covering exactly `bars` bars, in phrases of 4 bars where the length allows: the genre's template,
    or the sections a prompt names."""
    unit = 4 if bars >= 16 else 2 if bars >= 8 else 1
    units, spare = divmod(bars, unit)
    template = TEMPLATES[form] if structure is None else _template_for(form, bars, structure)
    kept = sorted(sorted(template, key=lambda slot: slot.priority)[:units], key=template.index)
    lengths = [1] * len(kept)
    extra = units - len(kept)
    # Share the units beyond one per section by each slot's template length beyond one unit (largest remainder).
    weights = [max(slot.bars - unit, 0) or 1 for slot in kept]
    shares = [extra * weight / sum(weights) for weight in weights]
    for index, share in enumerate(shares):
        lengths[index] += int(share)
    by_remainder = sorted(range(len(kept)), key=lambda i: (-(shares[i] - int(shares[i])), kept[i].priority))
    for index in by_remainder[: units - sum(lengths)]:
        lengths[index] += 1
    sections: list[Section] = []
    start = 0
    for index, slot in enumerate(kept):
        length = lengths[index] * unit + (spare if index == len(kept) - 1 else 0)
        if sections and sections[-1].name == slot.name:  # neighbours left by a dropped section merge
            sections[-1] = Section(slot.name, sections[-1].start_bar, sections[-1].bars + length, ENERGY[slot.name])
        else:
            sections.append(Section(slot.name, start, length, ENERGY[slot.name]))
        start += length
    return tuple(sections)


def _template_for(form: Form, bars: int, structure: Structure) -> tuple[_Slot, ...]:
    genre_template = TEMPLATES[form]
    main = min(genre_template, key=lambda slot: slot.priority).name
    if not structure.wanted and not structure.only:
        kept = tuple(slot for slot in genre_template if slot.name not in structure.excluded)
        return kept or (_Slot(main, SECTION_BARS[main], 1),)
    lengths = SECTION_BARS | {slot.name: slot.bars for slot in reversed(genre_template)}  # the genre's first wins
    asked = list(structure.wanted) if structure.only else _song_around(set(structure.wanted) | {main}, lengths, bars)
    names = [name for name in asked if name not in structure.excluded] or [main]
    slots: list[_Slot] = []
    for name in names:
        repeat = names[: len(slots)].count(name)  # a second chorus or drop goes before the first when cutting
        slots.append(_Slot(name, lengths[name], SECTION_PRIORITY[name] + 10 * repeat))
    return tuple(slots)


def _song_around(named: set[str], lengths: dict[str, int], bars: int) -> list[str]:
    """The named sections as a song: intro, passes through the body (a build leads into the drop or chorus) until
    the song is long enough, any bridge or breakdown followed by the body's peak again, then the outro."""
    if "drop" in named:
        body_order: tuple[str, ...] = ("verse", "chorus", "build", "drop")
    elif "chorus" in named:
        body_order = ("verse", "build", "chorus")
    else:
        body_order = ("build", "verse")
    body = [name for name in body_order if name in named]
    middle = [name for name in ("bridge", "breakdown") if name in named]
    again = (body[1:] if body[0] == "verse" and len(body) > 1 else body) if middle else []
    intro = [name for name in ("intro",) if name in named]
    outro = [name for name in ("outro",) if name in named]
    passes = list(body)
    while sum(lengths[name] for name in intro + passes + middle + again + outro) < bars and len(passes) < 64:
        passes += body
    return intro + passes + middle + again + outro

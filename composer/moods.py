"""Mood words and what each one does to a song where the prompt and request do not fix it: the mode, a nudge to
the tempo, the dynamics, the register the lead moves around, how busy the lead and the comping are, and swing.

The vocabulary covers the words producers use and every mood/theme tag of the MTG-Jamendo model that captions are
written from (action, adventure, advertising, ... upbeat, uplifting)."""

from dataclasses import dataclass

from composer.score import Part

MAX_REGISTER_SHIFT = 7  # semitones: further and a lead leaves the range its instrument sounds good in
DENSITY_RANGE = (0.5, 1.4)
DYNAMICS_STEP = 0.1  # how much each step of intensity scales the pitched parts' velocities
BELLS = 9  # Glockenspiel: the sound of "christmas" and "holiday"


@dataclass(frozen=True)
class Effect:
    """What one mood word does."""

    mode: str | None = None  # "minor" or "major" for a key named without a mode or not named at all
    tempo: int = 0  # -1 the genre's slow tempo, +1 its fast one
    intensity: int = 0  # -1 soft, +1 loud
    register: int = 0  # semitones the lead's centre moves
    density: float = 1.0  # how busy the lead and the comping are: below 1 sparser, above busier
    swing: bool = False
    lead: int | None = None  # a GM program the lead takes when the prompt names no lead instrument


@dataclass(frozen=True)
class Mood:
    """The mood words of one prompt, combined."""

    mode: str | None = None
    tempo: int = 0
    intensity: int = 0
    swing: bool = False
    register: int = 0
    density: float = 1.0
    lead: int | None = None

    @property
    def dynamics(self) -> float:
        """The scale of the pitched parts' velocities (the drums follow the intensity in their own loudness)."""
        return 1.0 + DYNAMICS_STEP * self.intensity


_MINOR = Effect("minor")
_MAJOR = Effect("major")
_DARK = Effect("minor", register=-5)
_SAD = Effect("minor", tempo=-1, intensity=-1, register=-2, density=0.8)
_BRIGHT = Effect("major", register=3, density=1.1)
_CALM = Effect(tempo=-1, intensity=-1, density=0.7)
_SOFT = Effect(intensity=-1, density=0.85)
_LOUD = Effect(intensity=1)
_FAST = Effect(tempo=1, intensity=1, density=1.15)
_SWING = Effect(swing=True)
_EPIC = Effect(intensity=1, register=-4)
_DRAMATIC = Effect("minor", intensity=1, register=-4)
_FESTIVE = Effect("major", register=5, lead=BELLS)
_CORPORATE = Effect("major", register=3, density=1.1)
_ROMANTIC = Effect(intensity=-1, register=2, density=0.8)
_MYSTERIOUS = Effect("minor", intensity=-1, register=-2, density=0.8)
_SCENE = Effect(register=-2)  # a film or documentary: a little lower, as underscore sits
_SPACE = Effect(intensity=-1, register=5, density=0.7)

MOODS: dict[str, Effect] = {
    # Dark and sad: minor, lower.
    "dark": _DARK, "sinister": _DARK, "evil": _DARK, "menacing": _DARK, "ominous": _DARK, "deep": _DARK,
    "scary": _DARK, "spooky": _DARK, "horror": _DARK, "angry": Effect("minor", intensity=1, register=-3),
    "moody": _MINOR, "haunting": _MINOR, "eerie": _MINOR, "emotional": _MINOR, "tense": Effect("minor", density=1.1),
    "suspenseful": Effect("minor", density=1.1), "sad": _SAD, "melancholic": _SAD, "melancholy": _SAD,
    "gloomy": _SAD, "somber": _SAD, "sombre": _SAD, "lonely": _SAD, "sorrowful": _SAD, "tragic": _SAD,
    "mysterious": _MYSTERIOUS, "mystical": _MYSTERIOUS, "mystery": _MYSTERIOUS,
    # Happy and bright: major, higher, a little busier.
    "happy": _BRIGHT, "uplifting": _BRIGHT, "bright": _BRIGHT, "euphoric": _BRIGHT, "cheerful": _BRIGHT,
    "sunny": _BRIGHT, "joyful": _BRIGHT, "joyous": _BRIGHT, "hopeful": _MAJOR, "summer": _MAJOR, "summery": _MAJOR,
    "feel good": _BRIGHT, "playful": _BRIGHT, "cute": _BRIGHT, "positive": _MAJOR, "fun": _BRIGHT,
    "funny": _BRIGHT, "children": _BRIGHT, "childlike": _BRIGHT, "travel": _MAJOR, "adventure": _BRIGHT,
    "triumphant": Effect("major", intensity=1), "heroic": Effect("major", intensity=1, register=-2),
    "inspiring": Effect("major", intensity=1, register=2), "christmas": _FESTIVE, "holiday": _FESTIVE,
    "festive": _FESTIVE,
    # Corporate and advertising: major and bright.
    "corporate": _CORPORATE, "advertising": _CORPORATE, "commercial": _CORPORATE,
    "motivational": Effect("major", tempo=1, intensity=1, register=3), "optimistic": _CORPORATE,
    # Calm: slower, softer, sparser.
    "chill": _CALM, "chilled": _CALM, "relaxed": _CALM, "relaxing": _CALM, "laid back": _CALM,
    "lazy": _CALM, "calm": _CALM, "calming": _CALM, "meditative": Effect(tempo=-1, intensity=-1, density=0.6),
    "serene": _CALM, "tranquil": _CALM, "ballad": _CALM, "background": _SOFT, "nature": _CALM,
    "soft": _SOFT, "gentle": _SOFT, "mellow": _SOFT, "dreamy": Effect(intensity=-1, register=3, density=0.8),
    "dream": Effect(intensity=-1, register=3, density=0.8), "smooth": _SOFT, "warm": _SOFT, "lush": _SOFT,
    "peaceful": _CALM, "quiet": _SOFT, "ethereal": _SPACE, "space": _SPACE, "nostalgic": _SOFT, "cozy": _SOFT,
    "rainy": _SOFT, "late night": _SOFT, "night": _SOFT, "romantic": _ROMANTIC, "love": _ROMANTIC,
    "tender": _ROMANTIC, "sexy": Effect(tempo=-1, intensity=-1, density=0.9, swing=True), "cool": _SOFT,
    "retro": Effect(density=0.9),
    # Energetic: faster, louder, busier.
    "hype": _FAST, "energetic": _FAST, "upbeat": _FAST, "aggressive": Effect(tempo=1, intensity=1, register=-2),
    "hard": _FAST, "driving": _FAST, "intense": _FAST, "banging": _FAST, "high energy": _FAST, "action": _FAST,
    "uptempo": _FAST, "sport": _FAST, "party": _FAST, "game": Effect(tempo=1, register=3, density=1.15),
    # Loud.
    "punchy": _LOUD, "heavy": Effect(intensity=1, register=-3), "loud": _LOUD, "sharp": _LOUD, "crisp": _LOUD,
    "big": _LOUD, "massive": _LOUD, "huge": _LOUD, "filthy": _LOUD, "gritty": _LOUD, "distorted": _LOUD,
    "dirty": _LOUD, "catchy": Effect(intensity=1, density=1.1), "melodic": Effect(intensity=1, density=1.1),
    "powerful": _EPIC, "epic": _EPIC, "majestic": _EPIC,
    "dramatic": _DRAMATIC, "drama": _DRAMATIC, "trailer": _DRAMATIC,
    # Scenes: film and documentary underscore.
    "film": _SCENE, "movie": _SCENE, "documentary": Effect(intensity=-1, register=-2, density=0.8),
    # Swing and bounce.
    "swing": _SWING, "swung": _SWING, "swingy": _SWING, "shuffle": _SWING, "dusty": _SWING,
    "jazzy": Effect(intensity=-1, swing=True), "bouncy": Effect(intensity=1, swing=True),
    "groovy": Effect(intensity=1, swing=True),
    # More of the words captions describe a song with.
    "magical": Effect("major", register=5, density=0.9), "whimsical": _BRIGHT, "lively": _FAST,
    "exciting": _FAST, "confident": _LOUD, "grand": _EPIC, "elegant": Effect(intensity=-1, register=2),
    "hypnotic": Effect(density=0.9), "reflective": _SOFT, "introspective": _SOFT, "intimate": _SOFT,
    "contemplative": _CALM, "soothing": _CALM, "sentimental": _ROMANTIC, "bittersweet": _SAD, "serious": _MINOR,
}  # fmt: skip


def combine(words: set[str]) -> Mood:
    """The mood of a prompt's mood words: minor wins over major, opposite nudges cancel, register shifts add up and
    densities multiply, within their limits."""
    effects = [MOODS[word] for word in sorted(words) if word in MOODS]
    mode = next((mode for mode in ("minor", "major") if any(e.mode == mode for e in effects)), None)
    tempo = int(any(e.tempo > 0 for e in effects)) - int(any(e.tempo < 0 for e in effects))
    intensity = int(any(e.intensity > 0 for e in effects)) - int(any(e.intensity < 0 for e in effects))
    register = max(-MAX_REGISTER_SHIFT, min(MAX_REGISTER_SHIFT, sum(e.register for e in effects)))
    density = 1.0
    for effect in effects:
        density *= effect.density
    density = max(DENSITY_RANGE[0], min(DENSITY_RANGE[1], density))
    lead = next((e.lead for e in effects if e.lead is not None), None)
    return Mood(mode, tempo, intensity, any(e.swing for e in effects), register, round(density, 3), lead)


def apply_dynamics(part: Part, dynamics: float) -> None:
    """The part's velocities scaled by the mood's dynamics (kept within MIDI's 1-127)."""
    if dynamics != 1.0:
        part.notes[:] = [(start, length, pitch, max(1, min(127, round(velocity * dynamics))))
                         for start, length, pitch, velocity in part.notes]  # fmt: skip

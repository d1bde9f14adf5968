"""The FX part: reverse-cymbal swells into the big sections, or a soft atmosphere (rain, sea) under the song."""

from composer.arrange import Section, plays
from composer.genres import Form
from composer.score import Meter, Part
from composer.theory import Key

REVERSE_CYMBAL = 119


def fx_part(program: int, form: Form, key: Key, meter: Meter, sections: tuple[Section, ...]) -> Part:
    part = Part()
    bar_ticks = meter.bar_ticks
    tonic = 60 + key.tonic
    if program == REVERSE_CYMBAL:
        for section in sections[1:]:
            if section.energy >= 0.85:  # swells one bar into each drop or chorus
                part.note((section.start_bar - 1) * bar_ticks, bar_ticks, tonic, 96)
        return part
    # Held on the tonic and its fifth: a tonic alone reads as the fifth of the key a fifth below.
    held = (tonic, tonic + 7) if key.scale[4] == (key.tonic + 7) % 12 else (tonic,)
    for section in sections:
        if plays(form, section, "fx"):
            for bar in range(section.start_bar, section.end_bar, 4):
                for pitch in held:
                    part.note(bar * bar_ticks, min(4, section.end_bar - bar) * bar_ticks, pitch, 50)
    return part

"""The tempo asked for is the tempo heard: librosa's beat tracker on audio rendered through the stack, for a
fixed prompt in every genre (within 3%, or its double or half)."""

import librosa
import numpy as np
import pytest

from clients.client import MusicClient, compose_request, song_options
from composer.genres import EXAMPLE_PROMPTS


@pytest.mark.parametrize("genre", EXAMPLE_PROMPTS)
def test_heard_tempo_matches_the_request(client: MusicClient, genre: str) -> None:
    result = client.compose(compose_request(EXAMPLE_PROMPTS[genre], options=song_options(bars=16), stems=False))
    assert result.info.genre == genre
    played = result.mix[: round(result.info.duration_seconds * result.sample_rate)]  # not the reverb's tail after it
    tempo, _ = librosa.beat.beat_track(y=played.mean(axis=1), sr=result.sample_rate)
    heard = float(np.atleast_1d(tempo)[0])
    wanted = result.info.bpm
    closest = min((heard * factor for factor in (0.5, 1.0, 2.0)), key=lambda t: abs(t - wanted))
    assert abs(closest - wanted) <= 0.03 * wanted, f"asked {wanted:g} BPM, heard {heard:.1f}"

"""What every rendered song looks like: stereo, the song's length and then its tail (releases, reverb)."""

from typing import Any

import numpy as np
import numpy.typing as npt

from renderers import DEFAULT_TAIL_SECONDS


def assert_song_and_tail(audio: npt.NDArray[np.floating[Any]], seconds: float, sample_rate: int = 44100) -> None:
    assert audio.ndim == 2
    assert audio.shape[1] == 2
    assert round(seconds * sample_rate) < len(audio) < round((seconds + DEFAULT_TAIL_SECONDS) * sample_rate)

"""Melody conditioning without torchaudio: the stand-in's power spectrogram against an independent numpy reference,
audiocraft's ChromaExtractor on it, and musicgen-melody's conditioning end to end on the tiny random `debug-melody`
MusicGen (audiocraft's ChromaStemConditioner with demucs' random `demucs_unittest` model, no weights)."""

import sys

import numpy as np
import numpy.typing as npt
import pytest
import torch

import generator
from generator._imports import PowerSpectrogram, import_audiocraft_models

SAMPLE_RATE = 32000


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def melody_model() -> generator.Generator:
    generator.set_threads(2)
    return generator.Generator(generator.load_model(generator.DEBUG_MELODY), max_seconds=60)


def music(seconds: float, sample_rate: int, seed: int) -> npt.NDArray[np.float64]:
    """A chord of decaying harmonic notes with a vibrato and some noise: a real signal, not a single bin."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    signal = 0.01 * rng.standard_normal(t.size)
    for note in rng.uniform(110.0, 880.0, size=3):
        phase = 2 * np.pi * note * t + 0.3 * np.sin(2 * np.pi * 5.0 * t)
        for harmonic in (1, 2, 3):
            signal += np.sin(harmonic * phase) * np.exp(-t * rng.uniform(0.2, 2.0)) / harmonic
    return signal


def reference_power_spectrogram(signal: npt.NDArray[np.float64], n_fft: int, hop: int) -> npt.NDArray[np.float64]:
    """torchaudio's Spectrogram(power=2, center=True, pad=0, normalized=True) with win_length == n_fft, in numpy:
    reflect-padded by n_fft // 2, periodic Hann frames every `hop` samples, one-sided rfft divided by the window's
    L2 norm, squared magnitude; [freq, frames]."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(signal, n_fft // 2, mode="reflect")
    frames = 1 + signal.size // hop
    stacked = np.stack([padded[i * hop : i * hop + n_fft] for i in range(frames)])
    spectrum = np.fft.rfft(stacked * window, axis=-1) / np.sqrt(np.sum(window**2))
    power: npt.NDArray[np.float64] = (np.abs(spectrum) ** 2).T
    return power


@pytest.mark.parametrize("radix2_exp", [12, 14])
def test_chroma_gets_a_power_spectrogram_equal_to_an_independent_reference(radix2_exp: int) -> None:
    import_audiocraft_models()
    from audiocraft.modules.chroma import ChromaExtractor

    extractor = ChromaExtractor(sample_rate=SAMPLE_RATE, radix2_exp=radix2_exp)
    n_fft = 2**radix2_exp
    signals = [music(2.3, SAMPLE_RATE, seed) for seed in (1, 2)]
    batch = torch.from_numpy(np.stack(signals)[:, np.newaxis].astype(np.float32))

    spec = extractor.spec(batch)

    assert isinstance(extractor.spec, PowerSpectrogram)
    assert spec.shape == (2, 1, n_fft // 2 + 1, 1 + batch.shape[-1] // (n_fft // 4))
    for signal, got in zip(signals, spec[:, 0].double().numpy(), strict=True):
        # The float32 input rounds each sample by ~1e-7 relative, so compare to that of the reference's scale.
        expected = reference_power_spectrogram(signal.astype(np.float32).astype(np.float64), n_fft, n_fft // 4)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * expected.max())


def test_the_window_is_a_persistent_buffer_as_torchaudio_registers_it(melody_model: generator.Generator) -> None:
    # Released musicgen-melody state dicts were saved with torchaudio's Spectrogram, whose window is in them.
    state = melody_model.model.lm.state_dict()

    window = state["condition_provider.conditioners.self_wav.chroma.spec.window"]
    np.testing.assert_array_equal(window.numpy(), torch.hann_window(2**14, periodic=True).numpy())


def test_a_440_hz_tone_has_the_chroma_of_a() -> None:
    import_audiocraft_models()
    from audiocraft.modules.chroma import ChromaExtractor

    tone = np.sin(2 * np.pi * 440.0 * np.arange(SAMPLE_RATE) / SAMPLE_RATE).astype(np.float32)

    chroma = ChromaExtractor(sample_rate=SAMPLE_RATE, radix2_exp=14)(torch.from_numpy(tone)[None, None])

    # librosa's chroma bins start at C: A is bin 9.
    assert (chroma[0].argmax(dim=-1) == 9).all()


def test_everything_else_of_torchaudio_still_raises() -> None:
    import_audiocraft_models()
    import audiocraft.modules.chroma  # noqa: F401  (imported with the stand-ins)

    torchaudio = sys.modules["audiocraft.modules.chroma"].torchaudio

    assert "torchaudio" not in sys.modules
    for unsupported in ({"power": 1.0}, {"center": False}, {"pad": 3}):
        with pytest.raises(generator.DependencyMissing, match="only the power spectrogram"):
            torchaudio.transforms.Spectrogram(n_fft=512, **unsupported)
    with pytest.raises(generator.DependencyMissing, match=r"torchaudio.transforms.MelSpectrogram.*torch 2.13"):
        torchaudio.transforms.MelSpectrogram(SAMPLE_RATE)
    with pytest.raises(generator.DependencyMissing, match=r"torchaudio.load.*torch 2.13"):
        torchaudio.load("x.wav")


def test_melody_conditioning_runs_end_to_end_at_the_requested_length(melody_model: generator.Generator) -> None:
    tune = music(3.0, 44100, seed=5).astype(np.float32)
    stereo = np.stack([tune, tune[::-1]], axis=1)

    clips = melody_model.generate(
        ["a tune", "another", "no melody"],
        generator.GenerationParams(duration=2.5, seed=1),
        melody=[tune, stereo, None],
        melody_sample_rate=44100,
    )

    assert melody_model.supports_melody
    assert [clip.shape for clip in clips] == [(round(2.5 * SAMPLE_RATE), melody_model.channels)] * 3
    for clip in clips:
        assert clip.dtype == np.float32
        assert np.isfinite(clip).all()
        assert np.abs(clip).max() > 0


def test_a_melody_changes_the_clip(melody_model: generator.Generator) -> None:
    # Only melody against none: the random demucs' stems follow its biases more than its input, so two melodies
    # can give the same argmax chroma on this model.
    params = generator.GenerationParams(duration=2, seed=3)

    def clip(melody: npt.NDArray[np.float32] | None) -> npt.NDArray[np.float32]:
        return melody_model.generate(["x"], params, melody=None if melody is None else [melody])[0]

    tune = music(2.0, SAMPLE_RATE, seed=6).astype(np.float32)
    np.testing.assert_array_equal(clip(tune), clip(tune))
    assert not np.allclose(clip(tune), clip(None))


def test_a_melody_at_an_unusable_rate_names_the_melody(melody_model: generator.Generator) -> None:
    # The rate travels with the melody (its file's own), so the error names the melody: a field the gateway knows.
    with pytest.raises(generator.InvalidGeneration, match="sample rate must be 8000-192000 Hz, got 4000") as caught:
        melody_model.generate(
            ["x"], generator.GenerationParams(duration=1), melody=[music(1.0, 4000, seed=1)], melody_sample_rate=4000
        )
    assert caught.value.field == "melody"

"""Importing audiocraft beside torch 2.13.

audiocraft 1.3.0 imports two packages at module level that text-to-music never calls:

- ``torchaudio``: no PyPI build of it loads against torch 2.13 (its ``_torchaudio`` library fails to load).
  audiocraft calls it only for melody chroma (``ChromaExtractor``), loudness normalisation and ``audio_write``.
  Melody chroma needs nothing from it but a power spectrogram, so the stand-in's ``transforms.Spectrogram`` is
  `PowerSpectrogram`: ``torch.stft`` with torchaudio's semantics for exactly the arguments ``ChromaExtractor``
  passes (any other value raises ``DependencyMissing``). Every other torchaudio name still raises.
- ``spacy``: used only by ``WhiteSpaceTokenizer`` (which needs the ``en_core_web_sm`` pipeline, downloaded from
  GitHub at run time). The released MusicGen models condition on T5 and never build that tokenizer; our debug model
  uses audiocraft's ``noop`` tokenizer instead (see ``generator.weights``).

While ``audiocraft.models`` is imported, and only then, each of them that cannot be imported is stood in for by a
module whose names raise ``DependencyMissing`` when used, so nothing silently computes something else. Afterwards
the stand-ins are taken out of ``sys.modules`` again: other code importing them still gets the real ImportError.
"""

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Final

import torch

from generator.errors import DependencyMissing

WHY: Final = {
    "torchaudio": (
        "no torchaudio build loads with torch 2.13; audiocraft needs it only for loudness normalisation, audio_write "
        "and melody chroma (whose spectrogram the stand-in provides)"
    ),
    "spacy": "spaCy is not installed; audiocraft needs it only for its whitespace tokenizer, which we do not use",
}


class _Unavailable:
    """What a name from an absent package is bound to: using it (calling it, reading from it) raises."""

    def __init__(self, name: str, reason: str) -> None:
        self._name = name
        self._reason = reason

    def __call__(self, *args: object, **kwargs: object) -> object:
        raise DependencyMissing(f"{self._name} was used, but {self._reason}")

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise DependencyMissing(f"{self._name}.{attribute} was used, but {self._reason}")


class PowerSpectrogram(torch.nn.Module):
    """``torchaudio.transforms.Spectrogram`` for the arguments audiocraft's ``ChromaExtractor`` passes, and no others.

    torch 2.13 has no working torchaudio, and melody chroma needs only this power spectrogram, so it is written out
    here on ``torch.stft`` with torchaudio's documented behaviour: a periodic Hann window of ``win_length`` (a
    persistent ``window`` buffer, as torchaudio registers it, so released state dicts load), frames centred with
    reflect padding, one-sided, divided by ``sqrt(sum(window**2))`` when ``normalized`` (torchaudio's "window"
    normalisation), ``|X|**2``; ``[..., time]`` in, ``[..., n_fft // 2 + 1, frames]`` out. Values other than the
    ones ``ChromaExtractor`` uses (``power=2``, ``pad=0``, ``center=True``) raise ``DependencyMissing``.
    """

    window: torch.Tensor

    def __init__(
        self,
        *,
        n_fft: int,
        win_length: int | None = None,
        hop_length: int | None = None,
        power: float = 2.0,
        center: bool = True,
        pad: int = 0,
        normalized: bool = False,
    ) -> None:
        super().__init__()
        for argument, value, supported in (("power", power, 2), ("center", center, True), ("pad", pad, 0)):
            if value != supported:
                raise DependencyMissing(
                    f"torchaudio.transforms.Spectrogram({argument}={value!r}) was used, but only the power "
                    f"spectrogram melody chroma needs is provided without torchaudio ({WHY['torchaudio']})"
                )
        self.n_fft = n_fft
        self.win_length = win_length or n_fft
        self.hop_length = hop_length or self.win_length // 2
        self.normalized = bool(normalized)
        self.register_buffer("window", torch.hann_window(self.win_length, periodic=True))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        leading = waveform.shape[:-1]
        spectrum = torch.stft(
            waveform.reshape(-1, waveform.shape[-1]),
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window,
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        spectrum = spectrum.reshape(*leading, *spectrum.shape[-2:])
        if self.normalized:
            spectrum = spectrum / self.window.pow(2.0).sum().sqrt()
        power: torch.Tensor = spectrum.abs().pow(2.0)
        return power


# What the stand-ins provide after all: module -> name -> object. Nothing else.
PROVIDED: Final[dict[str, dict[str, object]]] = {"torchaudio.transforms": {"Spectrogram": PowerSpectrogram}}


class _Absent(ModuleType):
    """A stand-in module: `from absent import name` binds an `_Unavailable`, which raises when used (except for the
    names `PROVIDED` gives it)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []
        self._reason = reason
        for attribute, value in PROVIDED.get(name, {}).items():
            setattr(self, attribute, value)

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return _Unavailable(f"{self.__name__}.{attribute}", self._reason)


def _stand_ins() -> dict[str, ModuleType]:
    modules: dict[str, ModuleType] = {}
    for name, reason in WHY.items():
        if name in sys.modules or _importable(name):
            continue
        package = modules[name] = _Absent(name, reason)
        for submodule in ("transforms", "cli"):
            # `import torchaudio` then `torchaudio.transforms.X` must reach the submodule's stand-in too.
            module = modules[f"{name}.{submodule}"] = _Absent(f"{name}.{submodule}", reason)
            setattr(package, submodule, module)
    return modules


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None and importlib.import_module(name) is not None
    except (ImportError, OSError):
        return False


def import_audiocraft_models() -> ModuleType:
    """``audiocraft.models``, imported with stand-ins for the absent packages named in WHY."""
    if "audiocraft.models" in sys.modules:
        return sys.modules["audiocraft.models"]
    # transformers probes for optional packages with find_spec when first imported; it must see the real state.
    importlib.import_module("transformers")
    stand_ins = _stand_ins()
    sys.modules.update(stand_ins)
    try:
        return importlib.import_module("audiocraft.models")
    finally:
        for name in stand_ins:
            sys.modules.pop(name, None)


def stand_ins_used() -> list[str]:
    """Names of the packages audiocraft got a stand-in for (empty when both were importable)."""
    import_audiocraft_models()
    imported = (
        sys.modules["audiocraft.data.audio_utils"].torchaudio,
        sys.modules["audiocraft.modules.conditioners"].spacy,
    )
    return [module.__name__ for module in imported if isinstance(module, _Absent)]

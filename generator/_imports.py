"""Importing audiocraft beside torch 2.13.

audiocraft 1.3.0 imports two packages at module level that text-to-music never calls:

- ``torchaudio``: no PyPI build of it loads against torch 2.13 (its ``_torchaudio`` library fails to load).
  audiocraft calls it only for melody chroma (``ChromaExtractor``), loudness normalisation and ``audio_write``.
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

from generator.errors import DependencyMissing

WHY: Final = {
    "torchaudio": "no torchaudio build loads with torch 2.13; MusicGen needs it only for melody conditioning",
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


class _Absent(ModuleType):
    """A stand-in module: `from absent import name` binds an `_Unavailable`, which raises when used."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []
        self._reason = reason

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return _Unavailable(f"{self.__name__}.{attribute}", self._reason)


def _stand_ins() -> dict[str, ModuleType]:
    modules: dict[str, ModuleType] = {}
    for name, reason in WHY.items():
        if name in sys.modules or _importable(name):
            continue
        for module in (name, f"{name}.transforms", f"{name}.cli"):
            modules[module] = _Absent(module, reason)
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

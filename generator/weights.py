"""Finding and loading MusicGen with audiocraft's own loaders.

A released model is three parts: the MusicGen weights (``state_dict.bin`` + ``compression_state_dict.bin``, read by
``MusicGen.get_pretrained``), the ``t5-base`` text encoder and the ``facebook/encodec_32khz`` audio codec (both
loaded by transformers from the Hugging Face cache). The MusicGen weights are looked for in
``<weights_dir>/<name>/`` first, then in the Hugging Face cache. Loading downloads nothing (set HF_HUB_OFFLINE=1 so
the hub client does not even ask for newer revisions): what is absent is reported by part (`MissingWeights`).
`pull_weights` (``dgx-music models pull``) is the one step that fetches, on a machine with network.

``debug`` is audiocraft's tiny random test model (no weights), built by audiocraft's builders as
``MusicGen.get_pretrained('debug')`` builds it, except that its text conditioner uses audiocraft's ``noop``
tokenizer: the ``whitespace`` one loads spaCy's ``en_core_web_sm`` pipeline, which is downloaded at run time.
``debug-melody`` is the same tiny random model with musicgen-melody's conditioning: audiocraft's
``ChromaStemConditioner`` (``self_wav``, prepended to the sequence like musicgen-melody's) whose demucs is demucs' own
random ``demucs_unittest`` model instead of ``htdemucs`` (whose weights are downloaded at run time).
"""

from pathlib import Path
from typing import TYPE_CHECKING, Final

import torch
from huggingface_hub import constants, snapshot_download, try_to_load_from_cache
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

from generator._imports import import_audiocraft_models
from generator.errors import MissingWeights, UnknownModel, WeightsDownloadFailed

if TYPE_CHECKING:
    from audiocraft.models.musicgen import MusicGen
    from audiocraft.modules.conditioners import ChromaStemConditioner

DEBUG: Final = "debug"
DEBUG_MELODY: Final = "debug-melody"
DEFAULT_MODEL: Final = "musicgen-small"
MODELS: Final = ("musicgen-small", "musicgen-medium", "musicgen-melody", "musicgen-large")
MUSICGEN_FILES: Final = ("state_dict.bin", "compression_state_dict.bin")
TEXT_ENCODER: Final = "t5-base"
CODEC: Final = "facebook/encodec_32khz"
# Present in every transformers model repository; the rest of a snapshot comes with it from `pull_weights`.
CONFIG_FILE: Final = "config.json"
# audiocraft's debug model: 30 s windows like the released models.
DEBUG_MAX_SECONDS: Final = 30.0


def known_models() -> list[str]:
    """The model names `load_model` accepts."""
    return [*MODELS, DEBUG, DEBUG_MELODY]


def repo_id(name: str) -> str:
    """The Hugging Face repository of a released model."""
    return f"facebook/{name}"


def load_model(name: str = DEFAULT_MODEL, weights_dir: Path | None = None, device: str = "cpu") -> "MusicGen":
    """MusicGen `name` on `device` ("cpu", or "cuda:N" for a GPU instance; the debug model stays on the CPU), in
    eval mode; raises UnknownModel or MissingWeights."""
    if name in (DEBUG, DEBUG_MELODY):
        return _debug_model(melody=name == DEBUG_MELODY)
    if name not in MODELS:
        raise UnknownModel(name, known_models())
    source, missing = _locate(name, weights_dir)
    if missing:
        raise MissingWeights(name, missing)
    musicgen = import_audiocraft_models().MusicGen
    try:
        model: MusicGen = musicgen.get_pretrained(source, device=device)
    except (LocalEntryNotFoundError, OSError) as exc:
        # A snapshot with its config but not its other files: name the part that failed to load.
        raise MissingWeights(name, {"a file of the snapshots": f"{type(exc).__name__}: {exc}"}) from exc
    return model


def small_sized_model() -> "MusicGen":
    """The debug model with its language model swapped for musicgen-small's shape (24 layers, 1024 wide, 16 heads),
    randomly initialised: what the real model's steps cost, with no weights to fetch (the benchmarks). It keeps the
    debug codec's 400 codes (small has 2048: a slightly cheaper output layer)."""
    model = _debug_model()  # first: it imports audiocraft (with generator._imports' stand-ins)
    from audiocraft.models.lm import LMModel
    from audiocraft.modules.codebooks_patterns import DelayedPatternProvider
    from audiocraft.modules.conditioners import ConditionFuser, ConditioningProvider, LUTConditioner

    dim = 1024
    model.lm = LMModel(
        DelayedPatternProvider(n_q=4),
        ConditioningProvider({"description": LUTConditioner(n_bins=128, dim=dim, output_dim=dim, tokenizer="noop")}),
        ConditionFuser({"cross": ["description"], "prepend": [], "sum": [], "input_interpolate": []}),
        n_q=4,
        card=model.lm.card,
        dim=dim,
        num_heads=16,
        num_layers=24,
        hidden_scale=4,
        custom=True,
        cross_attention=True,
        causal=True,
    ).eval()
    return model


def name_of(model: "MusicGen") -> str:
    """The name `load_model` knew a loaded model by ("musicgen-small"), whether audiocraft loaded it from a folder
    or from the Hugging Face cache (its own `name` is then the folder's path or the repository)."""
    return Path(str(model.name)).name


def weights_problem(name: str, weights_dir: Path | None = None) -> MissingWeights | None:
    """What `load_model` would say is missing (None: nothing), without loading; raises UnknownModel."""
    if name in (DEBUG, DEBUG_MELODY):
        return None
    if name not in MODELS:
        raise UnknownModel(name, known_models())
    _, missing = _locate(name, weights_dir)
    return MissingWeights(name, missing) if missing else None


def model_modules(model: "MusicGen") -> list[torch.nn.Module]:
    """Every torch module a loaded MusicGen holds: its language model, its codec, and what its conditioners keep out
    of their state dicts (T5, the melody conditioner's demucs)."""
    modules: list[torch.nn.Module] = [model.lm, model.compression_model]
    for conditioner in model.lm.condition_provider.conditioners.values():
        modules += [value for value in vars(conditioner).values() if isinstance(value, torch.nn.Module)]
    return modules


def _locate(name: str, weights_dir: Path | None) -> tuple[str, dict[str, str]]:
    """Where audiocraft should read the MusicGen weights from, and every part that is absent (part -> where)."""
    missing: dict[str, str] = {}
    cache = f"the Hugging Face cache {constants.HF_HUB_CACHE}"
    directory = None if weights_dir is None else weights_dir / name
    places = [] if directory is None else [f"{directory}/"]
    if directory is not None and all((directory / file).is_file() for file in MUSICGEN_FILES):
        source = str(directory)
    elif all(_cached(repo_id(name), file) for file in MUSICGEN_FILES):
        source = repo_id(name)
    else:
        source = repo_id(name)
        places.append(f"{cache} (repo {repo_id(name)})")
        missing[f"MusicGen weights {' + '.join(MUSICGEN_FILES)}"] = " and ".join(places)
    for part in (TEXT_ENCODER, CODEC):
        if not _cached(part, CONFIG_FILE):
            missing[part] = f"{cache} (repo {part})"
    return source, missing


def _cached(repo: str, filename: str) -> bool:
    return isinstance(try_to_load_from_cache(repo, filename), str)


def _debug_model(*, melody: bool = False) -> "MusicGen":
    models = import_audiocraft_models()
    from audiocraft.models.builders import get_debug_compression_model
    from audiocraft.models.lm import LMModel
    from audiocraft.modules.codebooks_patterns import DelayedPatternProvider
    from audiocraft.modules.conditioners import BaseConditioner, ConditionFuser, ConditioningProvider, LUTConditioner

    # The same random model in every process, without disturbing the caller's random state.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        compression_model = get_debug_compression_model("cpu")
        dim = 16
        conditioners: dict[str, BaseConditioner] = {
            "description": LUTConditioner(n_bins=128, dim=dim, output_dim=dim, tokenizer="noop")
        }
        prepend = []
        if melody:
            conditioners["self_wav"] = _debug_chroma_stem(dim, DEBUG_MAX_SECONDS)
            prepend.append("self_wav")
        lm = LMModel(
            DelayedPatternProvider(n_q=4),
            ConditioningProvider(conditioners),
            ConditionFuser({"cross": ["description"], "prepend": prepend, "sum": [], "input_interpolate": []}),
            n_q=4,
            card=400,
            dim=dim,
            num_heads=4,
            custom=True,
            num_layers=2,
            cross_attention=True,
            causal=True,
        ).eval()
    name = DEBUG_MELODY if melody else DEBUG
    model: MusicGen = models.MusicGen(name, compression_model, lm, max_duration=DEBUG_MAX_SECONDS)
    return model


def _debug_chroma_stem(dim: int, duration: float) -> "ChromaStemConditioner":
    """audiocraft's ChromaStemConditioner as musicgen-melody configures it (32 kHz, 12 chroma bins, 2**14 STFT,
    argmax, lengths matched at eval as `MusicGen.get_pretrained` sets them), with `demucs_unittest` for htdemucs.

    Its ``__init__`` loads htdemucs unconditionally, so this sets the same attributes that ``__init__`` sets in
    audiocraft 1.3.0 (no eval wavs, no cache) after the base class's own ``__init__``.
    """
    from audiocraft.modules.chroma import ChromaExtractor
    from audiocraft.modules.conditioners import ChromaStemConditioner, WaveformConditioner
    from audiocraft.utils.autocast import TorchAutocast
    from demucs.pretrained import get_model

    conditioner = ChromaStemConditioner.__new__(ChromaStemConditioner)
    WaveformConditioner.__init__(conditioner, dim=12, output_dim=dim, device="cpu")
    conditioner.autocast = TorchAutocast(enabled=False, device_type="cpu", dtype=torch.float32)
    conditioner.sample_rate = 32000
    conditioner.match_len_on_eval = True
    conditioner._use_masking = False
    conditioner.duration = duration
    # Kept out of the module tree (no state-dict entries), as audiocraft keeps htdemucs.
    demucs = conditioner.__dict__["demucs"] = get_model("demucs_unittest").eval()
    sources: list[str] = list(demucs.sources)
    conditioner.stem_indices = torch.LongTensor([sources.index("vocals"), sources.index("other")])
    conditioner.chroma = ChromaExtractor(sample_rate=32000, n_chroma=12, radix2_exp=14, argmax=True)
    conditioner.chroma_len = conditioner._get_chroma_len()
    conditioner.eval_wavs = None
    conditioner.cache = None
    return conditioner


def pull_weights(name: str = DEFAULT_MODEL) -> list[Path]:
    """Downloads the three parts of model `name` into the Hugging Face cache (where `load_model` finds them)."""
    if name not in MODELS:
        raise UnknownModel(name, MODELS)
    fetched = []
    for repo, patterns in ((repo_id(name), list(MUSICGEN_FILES)), (TEXT_ENCODER, None), (CODEC, None)):
        try:
            fetched.append(Path(snapshot_download(repo, allow_patterns=patterns)))
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
            raise WeightsDownloadFailed(
                f"could not fetch {repo} from the Hugging Face Hub ({type(exc).__name__}: {exc}); run this where "
                "there is network (and HF_HUB_OFFLINE is not set), or copy the Hugging Face cache of a machine "
                "that has the files"
            ) from exc
    return fetched

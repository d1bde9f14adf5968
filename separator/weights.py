"""Finding and loading demucs weights with demucs' own loaders: a weights directory (`<name>.yaml` + `<sig>*.th`,
read by `demucs.pretrained.get_model(name, repo=dir)`) first, then the Hugging Face cache (`hf://` names).

Loading downloads nothing: what is absent is reported by name (`MissingWeights`), so a server without network
says exactly which files to bring. Set HF_HUB_OFFLINE=1 so the hub client does not even ask for newer revisions.
`pull_weights` (`dgx-music models pull`) is the one step that fetches, on a machine with network.
"""

from pathlib import Path

import yaml
from demucs.apply import BagOfModels, Model
from demucs.demucs import Demucs
from demucs.hdemucs import HDemucs
from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name
from demucs.htdemucs import HTDemucs
from demucs.pretrained import REMOTE_ROOT, _parse_remote_files, get_model
from huggingface_hub import constants, snapshot_download, try_to_load_from_cache
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

from separator.errors import MissingWeights, UnknownModel, WeightsDownloadFailed

AnyModel = Model | BagOfModels
MODEL_TYPES = (Demucs, HDemucs, HTDemucs)

DEFAULT_MODEL = "htdemucs"


def known_models(weights_dir: Path | None = None) -> list[str]:
    """Names demucs ships a bag definition for, plus those defined in `weights_dir`."""
    places = [REMOTE_ROOT] + ([weights_dir] if weights_dir is not None and weights_dir.is_dir() else [])
    return sorted({path.stem for place in places for path in place.glob("*.yaml")})


def load_model(name: str = DEFAULT_MODEL, weights_dir: Path | None = None) -> AnyModel:
    """The model (or bag of models) `name`, in eval mode; raises UnknownModel or MissingWeights."""
    place = weights_place(name, weights_dir)
    if isinstance(place, MissingWeights):
        raise place
    return _loaded(get_model(name, repo=place) if place is not None else get_model(f"hf://{name}"))


def weights_place(name: str, weights_dir: Path | None = None) -> Path | MissingWeights | None:
    """Where model `name`'s files all are, without loading them: the weights directory (its path), the Hugging Face
    cache (None), or neither (the MissingWeights to raise, naming the files absent from each place). Raises
    UnknownModel."""
    if name not in known_models(weights_dir):
        raise UnknownModel(name, known_models(weights_dir))
    local_bag = None if weights_dir is None else weights_dir / f"{name}.yaml"
    signatures = _signatures(local_bag if local_bag and local_bag.is_file() else REMOTE_ROOT / f"{name}.yaml")
    missing: dict[str, list[str]] = {}
    if weights_dir is not None:
        absent = _missing_in_directory(name, weights_dir, signatures)
        if not absent:
            return weights_dir
        missing[f"weights directory {weights_dir}"] = absent
    repo_id = f"{DEFAULT_NAMESPACE}/{hf_repo_name(name)}"
    absent = _missing_in_hf_cache(name, repo_id, signatures)
    if not absent:
        return None
    missing[f"Hugging Face cache {constants.HF_HUB_CACHE} (repo {repo_id})"] = absent
    return MissingWeights(name, missing)


def _loaded(model: object) -> AnyModel:
    assert isinstance(model, (BagOfModels, *MODEL_TYPES)), f"demucs returned {type(model).__name__}"
    return model


def members(model: AnyModel) -> list[Model]:
    """The single models a model or bag of models applies."""
    if isinstance(model, BagOfModels):
        return [member for member in model.models if isinstance(member, MODEL_TYPES)]
    return [model]


def _signatures(bag_file: Path) -> list[str]:
    with bag_file.open() as file:
        return [str(sig) for sig in yaml.safe_load(file)["models"]]


def _missing_in_directory(name: str, weights_dir: Path, signatures: list[str]) -> list[str]:
    absent = [] if (weights_dir / f"{name}.yaml").is_file() else [f"{name}.yaml"]
    # The released files carry a checksum in their name (`<sig>-<sha256 prefix>.th`); demucs verifies it.
    released = {sig: url.rsplit("/", 1)[-1] for sig, url in _parse_remote_files(REMOTE_ROOT / "files.txt").items()}
    for sig in signatures:
        if not any(weights_dir.glob(f"{sig}.th")) and not any(weights_dir.glob(f"{sig}-*.th")):
            absent.append(released.get(sig, f"{sig}.th"))
    return absent


def _missing_in_hf_cache(name: str, repo_id: str, signatures: list[str]) -> list[str]:
    cached_bag = try_to_load_from_cache(repo_id, f"{name}.yaml")
    if not isinstance(cached_bag, str):
        return [f"{name}.yaml"] + [f"{sig}.safetensors" for sig in signatures]
    return [
        f"{sig}.safetensors"
        for sig in _signatures(Path(cached_bag))
        if not isinstance(try_to_load_from_cache(repo_id, f"{sig}.safetensors"), str)
    ]


def pull_weights(name: str = DEFAULT_MODEL) -> Path:
    """Downloads a pretrained model's files into the Hugging Face cache (where `load_model` finds them)."""
    if name not in known_models():
        raise UnknownModel(name, known_models())
    repo_id = f"{DEFAULT_NAMESPACE}/{hf_repo_name(name)}"
    try:
        return Path(snapshot_download(repo_id))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
        raise WeightsDownloadFailed(
            f"could not fetch {repo_id} from the Hugging Face Hub ({type(exc).__name__}: {exc}); run this where "
            "there is network (and HF_HUB_OFFLINE is not set), or copy the files listed by the server"
        ) from exc

"""The client installs and runs without the server: no module under clients/ imports server code, not even lazily or
for type checking. The contract package (dgxmusic) is shared by both."""

import ast
import tomllib
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CLIENT_MODULES = sorted((PROJECT_ROOT / "clients").rglob("*.py"))


def _server_packages() -> set[str]:
    """Every package the project installs but the client and the contract, and the Triton models' folder."""
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    installed = {package.split(".")[0] for package in pyproject["tool"]["setuptools"]["packages"]}
    return installed - {"clients", "dgxmusic"} | {"model_repository"}


def _imported_modules(source: Path) -> list[str]:
    """Every module an import statement anywhere in `source` names, inside functions and `if TYPE_CHECKING` too."""
    imported = []
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.append(node.module)
    return imported


def test_the_server_packages_are_known() -> None:
    assert {"deploy", "gateway", "generator", "separator", "model_repository"} <= _server_packages()


def test_imports_inside_functions_and_type_checking_blocks_are_seen(tmp_path: Path) -> None:
    source = tmp_path / "lazy.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from deploy.settings import Settings\n"
        "def pull() -> None:\n    import generator, separator.api\n    from . import sibling\n"
    )
    assert _imported_modules(source) == ["typing", "deploy.settings", "generator", "separator.api"]


@pytest.mark.parametrize(
    "module", CLIENT_MODULES, ids=[str(module.relative_to(PROJECT_ROOT)) for module in CLIENT_MODULES]
)
def test_no_client_module_imports_server_code(module: Path) -> None:
    server_imports = [name for name in _imported_modules(module) if name.split(".")[0] in _server_packages()]
    assert server_imports == []

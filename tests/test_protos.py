"""The API contract: buf lint STANDARD clean, and the checked-in stubs are what the .proto files generate."""

import filecmp
import subprocess
import sys
from pathlib import Path

from conftest import BUF, PROJECT_ROOT

PROTOS = PROJECT_ROOT / "protos"


def test_buf_lint_standard() -> None:
    done = subprocess.run([str(BUF), "lint"], cwd=PROTOS, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_generated_stubs_are_current(tmp_path: Path) -> None:
    out = tmp_path
    subprocess.run([sys.executable, str(PROTOS / "generate.py"), "--out", str(out)], check=True)
    generated = sorted(p.relative_to(out) for p in out.rglob("*.py*"))
    assert generated, "protoc generated nothing"
    for path in generated:
        assert filecmp.cmp(out / path, PROTOS / path, shallow=False), f"{path} is stale: run protos/generate.py"

"""The embedded PostgreSQL's cluster folder (deploy.postgres): a lock file that a killed postmaster left is stale
once its process is gone or a zombie (PostgreSQL itself would take a zombie's pid for a running server)."""

import os
import subprocess
import time
from pathlib import Path

from deploy.postgres import Cluster


def lock_of(root: Path, pid: int) -> Path:
    data = root.resolve() / "data"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("15\n")
    lock = data / "postmaster.pid"
    lock.write_text(f"{pid}\n{data}\n")
    return lock


def test_a_zombies_lock_is_removed(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])  # not waited for: a zombie once it ends
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)
    lock = lock_of(tmp_path, child.pid)
    try:
        Cluster(tmp_path).prepare()
    finally:
        child.wait()
    assert not lock.exists()


def test_a_running_servers_lock_stays(tmp_path: Path) -> None:
    lock = lock_of(tmp_path, os.getpid())
    Cluster(tmp_path).prepare()
    assert lock.exists()

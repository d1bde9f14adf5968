"""The embedded default's PostgreSQL (Debian's postgresql-15): a cluster of the stack's own under
`data_dir/postgres`, reached only through a Unix socket in a directory private to the stack (no TCP at all), as
deploy.launcher runs it and the tests start it.

PostgreSQL refuses to run as root. Run by root, the cluster belongs to the unprivileged `postgres` user (which
Debian's package creates) and its programs run as that user, keeping only the capability to pass through
directories (CAP_DAC_READ_SEARCH), so that the cluster may lie under a data directory private to root (the stack's
is 0700, and so may be its parents: /root, a test's temporary folder). Run by anyone else, it runs as that user."""

import os
import pwd
import shutil
from pathlib import Path
from urllib.parse import quote

BIN_DIR = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "dgxmusic"  # the cluster's one role; its socket's folder is what keeps others out (trust on it)
DATABASE = "postgres"
_SYSTEM_USER = "postgres"
# sockaddr_un holds 107 bytes of path: the socket file's name (".s.PGSQL.5432") included.
_SOCKET_PATH_MAX = 107 - len("/.s.PGSQL.5432")


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot run here; the message says what to do."""


def _program(name: str) -> str:
    program = BIN_DIR / name
    if not program.is_file():
        raise PostgresUnavailable(
            f"{program} not found: install PostgreSQL 15 with `apt-get install postgresql` (make setup), "
            "or point DGXMUSIC_LIBRARY_DATABASE_URL at a PostgreSQL server"
        )
    return str(program)


def _as_cluster_owner() -> list[str]:
    """The command prefix that runs a PostgreSQL program as the cluster's owner ([] when that is us)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"PostgreSQL refuses to run as root and there is no {_SYSTEM_USER!r} user to run it as: install "
            "Debian's postgresql package (it creates the user), or run dgx-music as another user"
        ) from None
    caps = "+dac_read_search"
    return [
        "setpriv", f"--reuid={_SYSTEM_USER}", f"--regid={_SYSTEM_USER}", "--clear-groups",
        f"--inh-caps={caps}", f"--ambient-caps={caps}",
        # Changing the user clears the parent-death signal deploy.launcher set: set again, for the program.
        "--pdeathsig=SIGKILL",
    ]  # fmt: skip


def _lock_pid(lock: Path) -> int | None:
    try:
        return int(lock.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _running(pid: int | None) -> bool:
    """Whether process `pid` runs (a zombie does not)."""
    if pid is None or pid <= 0:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class Cluster:
    """The cluster in `root` (data in `root/data`, the socket in `root/run`)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"

    @property
    def url(self) -> str:
        """The DSN a client (psycopg, the gateway) connects with: the socket, the cluster's role."""
        return f"postgresql://{SUPERUSER}@/{DATABASE}?host={quote(str(self.socket_dir), safe='')}"

    def prepare(self) -> list[str] | None:
        """Makes the folders (private, the cluster owner's); the initdb command line when the cluster is new."""
        if len(str(self.socket_dir)) > _SOCKET_PATH_MAX:
            raise PostgresUnavailable(
                f"PostgreSQL's socket folder {self.socket_dir} is longer than a Unix socket's path may be: "
                "choose a shorter --data-dir"
            )
        for folder in (self.root, self.socket_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)
            if os.geteuid() == 0:
                shutil.chown(folder, _SYSTEM_USER, _SYSTEM_USER)
        # Lock files of a postgres that was killed: a new one starts once its pid is gone.
        for stale in self.socket_dir.glob(".s.PGSQL.*"):
            stale.unlink(missing_ok=True)
        # The lock file of a postmaster that was killed along with its launcher: PostgreSQL takes its pid for a
        # running server as long as the process is a zombie (its parent gone too, not yet reaped), so refuses to
        # start. A lock whose process is gone or a zombie is stale.
        lock = self.data / "postmaster.pid"
        if lock.is_file() and not _running(_lock_pid(lock)):
            lock.unlink(missing_ok=True)
        if (self.data / "PG_VERSION").is_file():
            return None
        if self.data.exists():  # an initdb cut short
            shutil.rmtree(self.data)
        return [
            *_as_cluster_owner(), _program("initdb"), "--pgdata", str(self.data), "--username", SUPERUSER,
            "--auth-local=trust", "--auth-host=reject", "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions",
        ]  # fmt: skip

    def command(self) -> list[str]:
        """postgres in the foreground: the socket only, in the private folder."""
        return [
            *_as_cluster_owner(), _program("postgres"), "-D", str(self.data),
            "-c", "listen_addresses=", "-c", f"unix_socket_directories={self.socket_dir}",
            "-c", "unix_socket_permissions=0700", "-c", "max_connections=100",
        ]  # fmt: skip

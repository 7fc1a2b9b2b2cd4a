"""A real single-node Slurm on this machine, started by hand (no systemd), for the Slurm profile tests.

Needs root and Debian's `slurmctld slurmd slurm-client munge` (`.ci/run` installs them). The configuration
goes to /etc/slurm (the executor plugin strips SLURM_CONF from a job's environment, so srun inside a job
reads the default location) and is removed on stop; state and logs live in one folder; the node advertises one generic `gpu` resource (backed by /dev/null, no card) so
that a GPU rule's `--gpus=1` request is accepted and scheduled. Facts behind the settings:
../shared/notes/slurm-local.md (no accounting, so the profile's status command is squeue).

    python tests/local_slurm.py start /tmp/slurm   # prints the SLURM_CONF to export
    python tests/local_slurm.py stop /tmp/slurm
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ETC = Path("/etc/slurm")
MARKER = "# written by diffuse tests/local_slurm.py"
# munged runs as user munge, which cannot enter a root-only temporary folder such as pytest's.
MUNGE_DIR = Path("/run/diffuse-munge")

SLURM_CONF = """\
{marker}
ClusterName=diffuse-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Memory limits are enforced without cgroups: the step is polled each second and killed over its --mem.
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
ReturnToService=2
# squeue must still see every finished job when snakemake and the tests ask (a loaded machine runs long).
MinJobAge=3600
DefMemPerCPU=1000
GresTypes=gpu
NodeName={host} CPUs={cpus} RealMemory={memory} Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""

# A count alone is ignored for gpu; /dev/null is a character device that stands in for the card.
GRES_CONF = "NodeName={host} Name=gpu File=/dev/null\n"


class SlurmUnavailable(RuntimeError):
    """This machine cannot run a local Slurm (not root, or the Debian packages are missing)."""


def missing_requirements() -> str | None:
    if os.geteuid() != 0:
        return "a local Slurm needs root"
    missing = [tool for tool in ("slurmctld", "slurmd", "munged", "sbatch", "squeue") if not _which(tool)]
    if missing:
        return f"not installed: {', '.join(missing)} (apt-get install slurmctld slurmd slurm-client munge)"
    return None


def _which(tool: str) -> str | None:
    return shutil.which(tool) or next(
        (str(p) for p in (Path("/usr/sbin") / tool, Path("/usr/bin") / tool) if p.exists()), None
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def start(root: str | os.PathLike, timeout: float = 60.0) -> dict[str, str]:
    """Start munged, slurmctld and slurmd under `root`; wait until the node is idle. Returns the env to use."""
    problem = missing_requirements()
    if problem:
        raise SlurmUnavailable(problem)
    root = Path(root).resolve()
    for sub in ("state", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = ETC / "slurm.conf"
    if conf.exists() and MARKER not in conf.read_text():
        raise SlurmUnavailable(
            f"{conf} exists and is not ours: refusing to replace a real Slurm configuration"
        )
    ETC.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().split(".")[0]
    settings = SLURM_CONF.format(
        marker=MARKER,
        host=host,
        root=root,
        cpus=os.cpu_count(),
        memory=int(_memory_mb() * 0.9),
        ctld_port=_free_port(),
        slurmd_port=_free_port(),
    )
    munge_socket = _start_munge()
    # Slurm's auth/munge plugin finds our munged through this option.
    conf.write_text(settings + f"AuthInfo=socket={munge_socket}\n")
    (ETC / "gres.conf").write_text(MARKER + "\n" + GRES_CONF.format(host=host))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    subprocess.run([_which("slurmctld"), "-f", str(conf)], env=env, check=True, timeout=30)
    subprocess.run([_which("slurmd"), "-f", str(conf)], env=env, check=True, timeout=30)
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = subprocess.run(
            ["sinfo", "--noheader", "--format=%T"], env=env, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        if state == "idle":
            return {"SLURM_CONF": str(conf)}
        time.sleep(1)
    stop(root)
    raise RuntimeError(
        f"the Slurm node did not become idle within {timeout:.0f} s (state {state!r}); logs in {root}"
    )


def _start_munge() -> Path:
    """munged as user munge with its socket, pid and log in MUNGE_DIR; returns the socket's path."""
    munge_dir = MUNGE_DIR
    _kill_pidfile(munge_dir / "munged.pid")
    munge_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(munge_dir, "munge", "munge")
    socket_path = munge_dir / "munge.socket"
    subprocess.run(
        [
            "runuser", "-u", "munge", "--", _which("munged"),
            f"--socket={socket_path}", f"--pid-file={munge_dir}/munged.pid", f"--log-file={munge_dir}/munged.log",
            f"--seed-file={munge_dir}/munged.seed",
        ],
        check=True, timeout=30,
    )  # fmt: skip
    return socket_path


def _kill_pidfile(path: Path, timeout: float = 15.0) -> None:
    if not path.exists():
        return
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (ValueError, ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop(root: str | os.PathLike) -> None:
    """Cancel jobs and stop the daemons started by `start(root)` (by their pid files)."""
    root = Path(root).resolve()
    conf = ETC / "slurm.conf"
    ours = conf.exists() and MARKER in conf.read_text()
    if ours:
        env = {**os.environ, "SLURM_CONF": str(conf)}
        for command in (["scancel", "--full", "--user=root"], ["scontrol", "shutdown"]):
            subprocess.run(command, env=env, capture_output=True, timeout=20, check=False)
    for pidfile in (root / "slurmd.pid", root / "slurmctld.pid", MUNGE_DIR / "munged.pid"):
        _kill_pidfile(pidfile)
    if ours:
        conf.unlink()
        (ETC / "gres.conf").unlink(missing_ok=True)


def running(root: str | os.PathLike) -> list[str]:
    """The daemons of `root` that are still alive (by pid file)."""
    root = Path(root).resolve()
    alive = []
    for name, pidfile in (
        ("slurmd", root / "slurmd.pid"),
        ("slurmctld", root / "slurmctld.pid"),
        ("munged", MUNGE_DIR / "munged.pid"),
    ):
        try:
            os.kill(int(pidfile.read_text().strip()), 0)
            alive.append(name)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            pass
    return alive


if __name__ == "__main__":
    action, folder = sys.argv[1], sys.argv[2]
    if action == "start":
        print(f"export SLURM_CONF={start(folder)['SLURM_CONF']}")
    elif action == "stop":
        stop(folder)
    else:
        sys.exit(f"usage: {sys.argv[0]} start|stop FOLDER")

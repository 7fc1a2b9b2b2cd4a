"""Warm start for local jobs: one server process per run imports torch, transformers and peft once, and
forks a child for each job that asks, so a model job skips the 5-6 s those imports cost it.

The job's own process (the one Snakemake started and times in its `benchmark:` file) hands its script
over at its first `diffuse` import (diffuse/__init__.py), before the script's other imports. It sends
its argv, working directory, environment and stdin/stdout/stderr to the server, forwards SIGTERM and
SIGINT to the child, and exits with the child's status. The child runs the job's script from its first
line with the job's environment, so it computes exactly what a cold process would. Only third-party
modules are preloaded: the child imports this checkout's `diffuse` afresh.

A job runs cold (in its own process, as before) whenever no server answers, the server runs another
Python or environment (a rule's conda env), or the job runs under Slurm. The Snakefile's `onstart`
starts the server for local runs of the hf backend (config `warm_start`); it stops with the run, or by
itself when Snakemake dies. Memory: the job's benchmark file then measures the waiting process only; the
child's peak resident memory is a line of the job's log (`peak memory:`), which benchmarks/run_log.py reads.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time

SOCKET_ENV = "DIFFUSE_WARM_SOCKET"  # set for every job of a run whose server is up
CHILD_ENV = "DIFFUSE_WARM_CHILD"  # set inside a forked child: run the script, do not hand it over again
START_ENV = "DIFFUSE_JOB_START"  # the job process's own start time, for the start-up lines of its log
PRELOAD = (
    "numpy", "pandas", "pyarrow.parquet", "scipy.stats", "psutil", "matplotlib", "matplotlib.pyplot", "torch",
    "transformers", "peft", "safetensors", "snakemake.script",
)  # fmt: skip
# Attributes of transformers' lazy module that import most of the modelling code (about 2-3 s).
PRELOAD_ATTRIBUTES = {"transformers": ("AutoModelForCausalLM", "AutoTokenizer", "PreTrainedModel")}
MAX_MESSAGE = 1 << 20
STARTING_WAIT_S = 120  # a job waits this long for a server still preloading (the same imports, done once)
# The server's libraries read these when it imports them. A cold job reads its Snakemake thread count there;
# a warm child's torch gets it from start_job (torch.set_num_threads), numpy's BLAS stays at one thread.
SINGLE_THREADED = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def _send(sock: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def _receive(sock: socket.socket) -> tuple[dict | None, list[int]]:
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 3)
    return (json.loads(data) if data else None), fds


# --- the job's side ---------------------------------------------------------------------------------------


def hand_over() -> None:
    """Run this job's script in a forked child of the run's server and exit with its status; return at once
    (the job runs cold) when there is no server to ask, or inside the child itself."""
    path = os.environ.get(SOCKET_ENV)
    if not path or os.environ.get(CHILD_ENV) or "SLURM_JOB_ID" in os.environ:
        return
    if not _wait_for_server(path):
        return
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return
    import psutil

    sys.stdout.flush()
    sys.stderr.flush()
    request = {
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "python": [sys.prefix, sys.version],
        "started": psutil.Process().create_time(),
    }
    try:
        _send(sock, request, [0, 1, 2])
        reply, _ = _receive(sock)
    except OSError:
        reply = None
    if not reply or "pid" not in reply:
        sock.close()  # refused (another Python) or the server went away before forking: run cold
        return
    child = reply["pid"]

    def forward(signum, _frame):
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            reply, _ = _receive(sock)
            break
        except InterruptedError:
            continue
    if not reply or "status" not in reply:
        print(f"warm start: the server at {path} went away while job pid {child} ran", file=sys.stderr)
        os._exit(1)
    os._exit(reply["status"])


def _wait_for_server(path: str) -> bool:
    """Whether the server listens at `path`, waiting while it is still preloading: a job that started cold
    instead would spend the same seconds on the same imports, beside the server's."""
    deadline = time.monotonic() + STARTING_WAIT_S
    while not os.path.exists(path):
        try:
            with open(path + ".pid") as pid_file:
                pid = int(pid_file.read())
        except (OSError, ValueError):
            return False
        if not _alive(pid) or time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def hand_over_snakemake_job() -> None:
    """hand_over() where this process is a Snakemake script job (its `__main__` holds the `snakemake`
    object). diffuse/__init__.py calls it, so a job hands over at its script's first `diffuse` import."""
    if SOCKET_ENV not in os.environ:
        return
    import __main__

    if hasattr(__main__, "snakemake"):
        hand_over()


# --- the server -------------------------------------------------------------------------------------------


def _run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the job's process and run its script; never returns."""
    import atexit
    import runpy
    import traceback

    code = 1
    try:
        atexit._clear()  # the server's exit handlers are not the job's
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ[CHILD_ENV] = "1"
        os.environ[START_ENV] = repr(request["started"])
        import tempfile

        tempfile.tempdir = None  # recomputed from the job's TMPDIR (Snakemake's resources.tmpdir)
        for name in [m for m in sys.modules if m == "diffuse" or m.startswith("diffuse.")]:
            del sys.modules[name]  # this checkout's code, as a cold job would import it
        sys.argv = list(request["argv"])
        runpy.run_path(sys.argv[0], run_name="__main__")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, int | None):
            print(exit_.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            import threading

            threading._shutdown()  # as the interpreter exits: non-daemon threads first, then atexit
            atexit._run_exitfuncs()
            report_peak_memory()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def report_peak_memory() -> None:
    """The job log's record of the child's peak resident memory: its benchmark file measures the job's
    own (waiting) process instead."""
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak_mb:.1f} MB (warm-started job)", file=sys.stderr)


def preload(modules=PRELOAD) -> None:
    import importlib

    for name in modules:
        if name == "matplotlib.pyplot":
            importlib.import_module("matplotlib").use("Agg")  # as diffuse.paper's figure modules do
        module = importlib.import_module(name)
        for attribute in PRELOAD_ATTRIBUTES.get(name, ()):
            getattr(module, attribute)


def serve(path: str, parent: int | None = None, modules=PRELOAD) -> None:
    """Preload `modules`, then listen at `path` (it appears only once the server is ready) and fork a child
    per request until `parent` (Snakemake) exits or SIGTERM arrives. Single-threaded, so forking is safe."""
    import selectors

    preload(modules)
    python = [sys.prefix, sys.version]
    stopping = False

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path + ".tmp")
    listener.listen(64)
    os.replace(path + ".tmp", path)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}  # child pid -> its job's connection
    try:
        while not stopping and (parent is None or os.getppid() == parent):
            for key, _ in selector.select(timeout=0.05):
                if key.fileobj is listener:
                    connection, _ = listener.accept()
                    _start(connection, python, children, selector)
                else:  # a job's connection closed before its child ended: the job was killed
                    pid = key.data
                    selector.unregister(key.fileobj)
                    _kill(pid)
            _reap(children, selector)
    finally:
        for pid in children:
            _kill(pid)
        listener.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _start(connection: socket.socket, python: list, children: dict, selector) -> None:
    import selectors

    try:
        request, fds = _receive(connection)
    except OSError:
        connection.close()
        return
    if not request or len(fds) != 3 or request.get("python") != python:
        for fd in fds:
            os.close(fd)  # another environment (a conda env, another venv): its job runs cold
        _send_quietly(
            connection, {"refused": f"this server runs Python {python[1].split()[0]} in {python[0]}"}
        )
        connection.close()
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        selector.close()
        for other in children.values():
            other.close()
        connection.close()
        _run_child(request, fds)
    for fd in fds:
        os.close(fd)
    children[pid] = connection
    selector.register(connection, selectors.EVENT_READ, data=pid)
    _send_quietly(connection, {"pid": pid})


def _reap(children: dict, selector) -> None:
    for pid in list(children):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            continue
        connection = children.pop(pid)
        try:
            selector.unregister(connection)
        except (KeyError, ValueError):
            pass  # already unregistered: its job was killed
        _send_quietly(connection, {"status": _exit_code(status)})
        connection.close()


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code  # killed by signal N: the shell's 128 + N


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def _send_quietly(connection: socket.socket, message: dict) -> None:
    try:
        _send(connection, message)
    except OSError:
        pass


# --- the run's side (the Snakefile's onstart / onsuccess / onerror) --------------------------------------


def server_command(path: str, parent: int | None = None, modules: tuple[str, ...] = ()) -> list[str]:
    """The server's command line (`-c`, not `-m diffuse.warm`: the package imports this module first)."""
    command = [sys.executable, "-c", "from diffuse.warm import main; main()", path]
    if parent is not None:
        command += ["--parent", str(parent)]
    return command + (["--preload", ",".join(modules)] if modules else [])


def start_server(log_path: str, timeout_s: float = 0.0, modules: tuple[str, ...] = ()):
    """Start a server for this Snakemake process; returns (process, socket path). Jobs find it through the
    environment they inherit. With timeout_s > 0, wait until it listens; `modules`: other preloads (tests)."""
    import subprocess
    import tempfile

    path = os.path.join(tempfile.mkdtemp(prefix="diffuse-warm-"), "socket")
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            server_command(path, os.getpid(), modules),
            env={**os.environ, **SINGLE_THREADED},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C reaches the jobs through Snakemake, not the server directly
        )
    with open(path + ".pid", "w") as pid_file:  # jobs wait for the socket while this process lives
        pid_file.write(str(process.pid))
    os.environ[SOCKET_ENV] = path
    deadline = time.monotonic() + timeout_s
    while timeout_s and not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return process, path


def stop_server(process, path: str) -> None:
    os.environ.pop(SOCKET_ENV, None)
    process.terminate()
    try:
        process.wait(timeout=10)
    except Exception:
        process.kill()
    for leftover in (path, path + ".tmp", path + ".pid"):
        if os.path.exists(leftover):
            os.unlink(leftover)
    os.rmdir(os.path.dirname(path))


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="The warm-start server of one Snakemake run.")
    parser.add_argument("socket", help="the path to listen at")
    parser.add_argument("--parent", type=int, help="stop when this process (Snakemake) exits")
    parser.add_argument("--preload", help="comma-separated modules (default: torch, transformers, peft, ...)")
    args = parser.parse_args(argv)
    serve(args.socket, args.parent, tuple(args.preload.split(",")) if args.preload else PRELOAD)

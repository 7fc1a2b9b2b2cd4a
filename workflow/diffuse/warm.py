"""Warm start for local jobs: one server process per run imports torch, transformers and peft once, and
forks a child for each job that asks, so a model job skips the 5-6 s those imports cost it.

The job's own process (the one Snakemake started and times in its `benchmark:` file) hands its script
over at its first `diffuse` import (diffuse/__init__.py), before the script's other imports. It sends
its argv, working directory, environment and stdin/stdout/stderr to the server, forwards SIGTERM and
SIGINT to the child, and ends as the child ended (its exit status, or the signal that killed it). The
child runs the job's script from its first line with the job's environment, sys.path[0], stdout
buffering and thread counts (start_job), so it computes exactly what a cold process would. Only
third-party modules are preloaded: the child imports this checkout's `diffuse` afresh.

A job runs cold (in its own process, as before) whenever no server answers, the server runs another
Python or environment, or the job runs under Slurm. The Snakefile's `onstart` starts the server for
local runs of the hf backend without conda envs (`wanted`, config `warm_start`); it stops with the run,
or by itself when Snakemake dies, and its children die with it. Not mirrored: the job's benchmark file
measures the waiting process (its CPU time and I/O; the child's peak resident memory is a line of the
job's log, `peak memory:`, which benchmarks/run_log.py reads), and at exit the child runs threads'
shutdown and atexit handlers but not the interpreter's clearing of module globals.
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
    "numpy", "pandas", "pyarrow.parquet", "scipy.stats", "psutil", "threadpoolctl", "matplotlib",
    "matplotlib.pyplot", "torch", "transformers", "peft", "safetensors", "snakemake.script",
)  # fmt: skip
# Attributes of transformers' lazy module that import most of the modelling code (about 2-3 s).
PRELOAD_ATTRIBUTES = {"transformers": ("AutoModelForCausalLM", "AutoTokenizer", "PreTrainedModel")}
MAX_MESSAGE = 1 << 20
STARTING_WAIT_S = 120  # a job waits this long for a server still preloading (the same imports, done once)
REPLY_TIMEOUT_S = 30  # for the server to fork a job's child (milliseconds when it is alive)
# The server's libraries read these when it imports them: no thread pools before a fork. A warm child's
# torch and BLAS get the job's thread count from start_job, as a cold job's read it from Snakemake's env.
SINGLE_THREADED = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
SERVER_ENV = {**SINGLE_THREADED, "MPLBACKEND": "Agg"}  # the backend diffuse.paper's figure modules select
DIES_WITH_PARENT = 1  # prctl(PR_SET_PDEATHSIG)
FORWARDED = (signal.SIGTERM, signal.SIGINT)


def _send(sock: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def _receive(sock: socket.socket) -> tuple[dict | None, list[int]]:
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 3)
    try:
        message = json.loads(data) if data else None
        if message is not None and not isinstance(message, dict):
            raise ValueError(f"not a warm-start message: {data[:80]!r}")
    except ValueError:
        for fd in fds:
            os.close(fd)
        raise
    return message, fds


# --- the job's side ---------------------------------------------------------------------------------------


def hand_over() -> None:
    """Run this job's script in a forked child of the run's server and end as it ends; return at once (the
    job runs cold) when there is no server to ask, it refuses, or inside the child itself."""
    path = os.environ.get(SOCKET_ENV)
    if not path or in_warm_child() or "SLURM_JOB_ID" in os.environ:
        return
    if not _wait_for_server(path):
        return
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(REPLY_TIMEOUT_S)
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
    except (OSError, ValueError):
        reply = None
    if not reply or "pid" not in reply:
        sock.close()  # refused (another Python), or no answer before forking: run cold
        return
    child = reply["pid"]

    def forward(signum, _frame):
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    sock.settimeout(None)  # the job takes as long as it takes
    try:
        reply, _ = _receive(sock)
    except (OSError, ValueError):
        reply = None
    if not reply or not ("status" in reply or "signal" in reply):
        print(f"warm start: the server at {path} went away while job pid {child} ran", file=sys.stderr)
        forward(signal.SIGTERM, None)  # it dies with the server anyway (PDEATHSIG); never two writers
        deadline = time.monotonic() + 30
        while _alive(child):
            if time.monotonic() > deadline:
                forward(signal.SIGKILL, None)
            time.sleep(0.05)
        os._exit(1)
    if "signal" in reply:  # die of the child's signal, as Snakemake would have seen a cold job die
        signal.signal(reply["signal"], signal.SIG_DFL)
        os.kill(os.getpid(), reply["signal"])
        time.sleep(1)
        os._exit(128 + reply["signal"])
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


def in_warm_child() -> bool:
    return bool(os.environ.get(CHILD_ENV))


# --- the server -------------------------------------------------------------------------------------------


def _run_child(request: dict, fds: list[int], server: int) -> None:
    """In the forked child: become the job's process and run its script; never returns."""
    import atexit
    import runpy

    code, killed_by = 1, None
    script = os.path.realpath(request["argv"][0])
    try:
        _die_with_parent()
        if os.getppid() != server:
            os._exit(1)  # the server died before the child could ask to die with it
        for signum in FORWARDED:
            signal.signal(signum, signal.SIG_DFL if signum == signal.SIGTERM else signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)  # blocked since before the fork: none lost
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ[CHILD_ENV] = "1"
        os.environ[START_ENV] = repr(request["started"])
        # Python set these up for the server's streams and `-c`; a cold `python script.py` has them so.
        sys.stdout.reconfigure(
            line_buffering=os.isatty(1), write_through=bool(os.environ.get("PYTHONUNBUFFERED"))
        )
        sys.path[0] = os.path.dirname(script)
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
    except BaseException as error:
        _print_from_script(error, script)
        if isinstance(error, KeyboardInterrupt):
            killed_by = signal.SIGINT  # as a cold interpreter ends on an unhandled KeyboardInterrupt
    finally:
        try:
            import threading

            threading._shutdown()  # as the interpreter exits: non-daemon threads first, then atexit
            atexit._run_exitfuncs()
            report_peak_memory()
            sys.stdout.flush()
            sys.stderr.flush()
            if killed_by is not None:
                signal.signal(killed_by, signal.SIG_DFL)
                os.kill(os.getpid(), killed_by)
        finally:
            os._exit(code)


def _print_from_script(error: BaseException, script: str) -> None:
    """The traceback a cold job prints: from the script's own frame, not this module's or runpy's."""
    tb = error.__traceback__
    while tb is not None and os.path.realpath(tb.tb_frame.f_code.co_filename) != script:
        tb = tb.tb_next
    tb = tb or error.__traceback__
    sys.excepthook(type(error), error.with_traceback(tb), tb)


def _die_with_parent() -> None:
    """The child gets SIGTERM if the server dies (killed, out of memory): no job outlives its server."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(DIES_WITH_PARENT, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the job's process still ends the child when the server goes away


def report_peak_memory() -> None:
    """The job log's record of the child's peak resident memory: its benchmark file measures the job's
    own (waiting) process instead."""
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak_mb:.1f} MB (warm-started job)", file=sys.stderr)


def preload(modules=PRELOAD) -> None:
    import importlib

    for name in modules:
        module = importlib.import_module(name)
        for attribute in PRELOAD_ATTRIBUTES.get(name, ()):
            getattr(module, attribute)


def threads_now() -> list[str]:
    """The names of this process's OS threads (Linux), for the server's log: what a fork leaves behind."""
    from pathlib import Path

    try:
        return [(task / "comm").read_text().strip() for task in sorted(Path("/proc/self/task").iterdir())]
    except OSError:
        return []


def serve(path: str, parent: int | None = None, modules=PRELOAD) -> None:
    """Preload `modules`, then listen at `path` (it appears only once the server is ready) and fork a child
    per request until `parent` (Snakemake) exits or SIGTERM arrives. Requests are handled in one thread
    (no lock can be held by another Python thread at a fork)."""
    import selectors

    started = time.monotonic()
    preload(modules)
    print(f"preloaded {len(modules)} modules in {time.monotonic() - started:.1f} s; threads: {threads_now()}")
    sys.stdout.flush()
    python = [sys.prefix, sys.version]
    stopping = False

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    for signum in FORWARDED:
        signal.signal(signum, stop)
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
                    try:
                        _start(connection, python, listener, children, selector)
                    except Exception as error:  # one bad request must not end the others' jobs
                        print(f"request refused: {error!r}")
                        sys.stdout.flush()
                        _send_quietly(connection, {"refused": repr(error)})
                        if connection not in children.values():
                            connection.close()
                else:  # a job's connection closed before its child ended: the job was killed
                    selector.unregister(key.fileobj)
                    _kill(key.data)
            _reap(children, selector)
    finally:
        for pid in children:
            _kill(pid)
        listener.close()
        for leftover in (path, path + ".pid"):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass


def _start(connection: socket.socket, python: list, listener, children: dict, selector) -> None:
    import selectors

    connection.settimeout(REPLY_TIMEOUT_S)  # a client that never sends cannot stall the others
    try:
        request, fds = _receive(connection)
    except (OSError, ValueError) as error:
        _send_quietly(connection, {"refused": repr(error)})
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
    server = os.getpid()
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)  # a signal for the child waits until it can die of it
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        for fd in fds:
            os.close(fd)
        raise
    if pid != 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    else:
        selector.close()
        listener.close()  # else a dead server's socket would still accept, and its jobs hang
        for other in children.values():
            other.close()
        connection.close()
        _run_child(request, fds, server)
    for fd in fds:
        os.close(fd)
    connection.settimeout(None)
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
        if os.WIFSIGNALED(status):
            _send_quietly(connection, {"signal": os.WTERMSIG(status)})
        else:
            _send_quietly(connection, {"status": os.waitstatus_to_exitcode(status)})
        connection.close()


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


def wanted(config: dict, workflow) -> bool:
    """Whether this Snakemake run starts a server: local jobs of the hf backend in this environment. Not
    for vLLM (its engine runs its own processes), conda envs (every job would be refused), `--touch`, or
    a Snakemake inside a Slurm allocation (its jobs start cold)."""
    conda = any("conda" in str(method).lower() for method in workflow.deployment_settings.deployment_method)
    return bool(
        config["warm_start"]
        and config["sampling"]["backend"] == "hf"
        and workflow.local_exec
        and not workflow.touch
        and not conda
        and "SLURM_JOB_ID" not in os.environ
    )


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
            env={**os.environ, **SERVER_ENV},
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
    import shutil

    os.environ.pop(SOCKET_ENV, None)
    process.terminate()
    try:
        process.wait(timeout=10)
    except Exception:
        process.kill()
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="The warm-start server of one Snakemake run.")
    parser.add_argument("socket", help="the path to listen at")
    parser.add_argument("--parent", type=int, help="stop when this process (Snakemake) exits")
    parser.add_argument("--preload", help="comma-separated modules (default: torch, transformers, peft, ...)")
    args = parser.parse_args(argv)
    try:
        serve(args.socket, args.parent, tuple(args.preload.split(",")) if args.preload else PRELOAD)
    finally:
        try:
            os.rmdir(os.path.dirname(args.socket))  # its temporary folder, when nothing else is left there
        except OSError:
            pass

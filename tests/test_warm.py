"""diffuse.warm: jobs handed to a warm-start server run as forked children with the job's own argv, working
directory, environment, streams and exit status; signals reach them; anything unusual runs the job cold."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from conftest import REPO, SMOKE, run_snakemake

from diffuse.warm import SINGLE_THREADED, SOCKET_ENV, server_command, wanted

WORKFLOW = str(REPO / "workflow")

# A job script: hands itself over as start_job does, then reports where and how it ran.
JOB = """
import json, os, sys, time
time.sleep(float(os.environ.get("BEFORE", "0")))  # the job process's own start-up before start_job
from diffuse.warm import hand_over
hand_over()
from diffuse.job_log import seconds_since_process_start
print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "cwd": os.getcwd(), "argv": sys.argv,
                  "x": os.environ.get("X"), "age": seconds_since_process_start(),
                  "parsing_preloaded": "diffuse.parsing" in sys.modules, "path0": sys.path[0]}))
print("a line on stderr", file=sys.stderr)
if os.environ.get("PIDFILE"):
    open(os.environ["PIDFILE"], "w").write(str(os.getpid()))
    time.sleep(60)
if os.environ.get("FAIL"):
    raise ValueError("the job failed")
if os.environ.get("INTERRUPT"):
    raise KeyboardInterrupt
sys.exit(int(os.environ.get("CODE", "0")))
"""


@pytest.fixture
def server():
    """A server preloading a light module (and diffuse.parsing, which children must not inherit)."""
    folder = tempfile.mkdtemp(prefix="warm-test-")  # short: a socket path has at most 107 bytes
    path = os.path.join(folder, "socket")
    process = subprocess.Popen(
        server_command(path, modules=("json", "numpy", "threadpoolctl", "diffuse.parsing")),
        env={**os.environ, **SINGLE_THREADED, "PYTHONPATH": WORKFLOW},
    )
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield process, path
    process.terminate()
    process.wait(timeout=10)
    assert not os.path.exists(folder), "the server left its socket or folder behind"


def run_job(tmp_path: Path, socket_path: str | None, **env) -> subprocess.Popen:
    script = tmp_path / "job.py"
    script.write_text(JOB)
    full_env = {**os.environ, "PYTHONPATH": WORKFLOW, "X": "from the job", **env}
    full_env.pop(SOCKET_ENV, None)
    if socket_path:
        full_env[SOCKET_ENV] = socket_path
    return subprocess.Popen(
        [sys.executable, str(script), "first", "second"], cwd=tmp_path, env=full_env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(job: subprocess.Popen) -> tuple[int, dict | None, str]:
    out, err = job.communicate(timeout=60)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return job.returncode, (json.loads(lines[0]) if lines else None), err


def test_a_job_runs_in_a_forked_child_with_its_argv_cwd_environment_streams_and_status(server, tmp_path):
    process, path = server
    code, report, err = finish(run_job(tmp_path, path, CODE="3"))
    assert code == 3
    assert report["ppid"] == process.pid  # forked by the server, not run by the job's own process
    assert report["cwd"] == str(tmp_path)
    assert report["argv"] == [str(tmp_path / "job.py"), "first", "second"]
    assert report["x"] == "from the job"
    assert report["path0"] == str(tmp_path)  # the script's folder, as `python script.py` puts first
    assert "a line on stderr" in err and "peak memory:" in err


def test_the_child_imports_this_checkouts_diffuse_afresh(server, tmp_path):
    # The server preloaded diffuse.parsing; a child must not run the server's copy of the project's code.
    code, report, _ = finish(run_job(tmp_path, server[1]))
    assert code == 0 and report["ppid"] == server[0].pid
    assert report["parsing_preloaded"] is False


def test_start_up_counts_from_the_job_process_not_the_fork(server, tmp_path):
    code, report, _ = finish(run_job(tmp_path, server[1], BEFORE="0.6"))
    assert code == 0 and report["ppid"] == server[0].pid
    assert report["age"] >= 0.6


def test_an_exception_fails_the_job_with_its_traceback(server, tmp_path):
    code, report, err = finish(run_job(tmp_path, server[1], FAIL="1"))
    assert code == 1 and report["ppid"] == server[0].pid
    assert "ValueError: the job failed" in err
    assert "warm.py" not in err and "runpy" not in err  # from the script's frame on, as a cold job prints


def test_an_interrupted_job_ends_as_a_cold_one_does(server, tmp_path):
    # An unhandled KeyboardInterrupt ends a Python process by SIGINT; Snakemake sees the same either way.
    cold, _, _ = finish(run_job(tmp_path, None, INTERRUPT="1"))
    warm, report, err = finish(run_job(tmp_path, server[1], INTERRUPT="1"))
    assert report["ppid"] == server[0].pid and "KeyboardInterrupt" in err
    assert warm == cold == -signal.SIGINT


def test_without_a_server_the_job_runs_cold(tmp_path):
    code, report, _ = finish(run_job(tmp_path, str(tmp_path / "no-such-socket"), CODE="3"))
    assert code == 3
    assert report["ppid"] == os.getpid()  # the job's own process ran it


def test_a_job_under_slurm_runs_cold(server, tmp_path):
    code, report, _ = finish(run_job(tmp_path, server[1], SLURM_JOB_ID="7"))
    assert code == 0 and report["ppid"] == os.getpid()


def wait_for_child(pidfile: Path) -> int:
    deadline = time.monotonic() + 30
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return int(pidfile.read_text())


def gone(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_sigterm_to_the_job_ends_its_child(server, tmp_path):
    job = run_job(tmp_path, server[1], PIDFILE=str(tmp_path / "pid"))
    child = wait_for_child(tmp_path / "pid")
    assert child != job.pid
    job.send_signal(signal.SIGTERM)
    code, _, _ = finish(job)
    assert code == -signal.SIGTERM  # the job's process dies of the child's signal, as a cold job would
    assert gone(child)


def test_a_killed_job_takes_its_child_with_it(server, tmp_path):
    # SIGKILL cannot be forwarded: the server sees the job's connection close and ends the child.
    job = run_job(tmp_path, server[1], PIDFILE=str(tmp_path / "pid"))
    child = wait_for_child(tmp_path / "pid")
    job.kill()
    job.wait(timeout=10)
    assert gone(child)


def test_a_dead_server_takes_its_children_and_later_jobs_run_cold(server, tmp_path):
    # Killed outright (out of memory, say): no child may go on writing a job's outputs, no job may hang.
    process, path = server
    job = run_job(tmp_path, path, PIDFILE=str(tmp_path / "pid"))
    child = wait_for_child(tmp_path / "pid")
    process.kill()
    process.wait(timeout=10)
    code, _, err = finish(job)
    assert code == 1 and "went away" in err
    assert gone(child)
    code, report, _ = finish(run_job(tmp_path, path, CODE="3"))  # its socket file is still there
    assert code == 3 and report["ppid"] == os.getpid()
    os.unlink(path)  # what the server would have removed
    os.rmdir(os.path.dirname(path))


def test_a_malformed_request_is_refused_and_the_server_goes_on(server, tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.connect(server[1])
    socket.send_fds(sock, [b"[1, 2]"], [0, 1, 2])
    assert "refused" in json.loads(sock.recv(1 << 16))
    code, report, _ = finish(run_job(tmp_path, server[1]))
    assert code == 0 and report["ppid"] == server[0].pid


def test_another_python_environment_is_refused(server, tmp_path):
    # A rule's conda env or another venv has other packages: its job must not run on this server's.
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.connect(server[1])
    request = {"argv": ["job.py"], "cwd": str(tmp_path), "env": {}, "python": ["/elsewhere", sys.version],
               "started": time.time()}  # fmt: skip
    socket.send_fds(sock, [json.dumps(request).encode()], [0, 1, 2])
    reply = json.loads(sock.recv(1 << 16))
    assert "refused" in reply and "pid" not in reply
    code, report, _ = finish(run_job(tmp_path, server[1]))  # and it still serves its own
    assert code == 0 and report["ppid"] == server[0].pid


def test_the_server_stops_when_snakemake_exits(tmp_path):
    folder = tempfile.mkdtemp(prefix="warm-test-")
    path = os.path.join(folder, "socket")
    # A parent that starts the server (as the Snakefile's onstart does), waits until it listens, and exits.
    parent = textwrap.dedent(f"""
        import os, subprocess, sys, time
        from diffuse.warm import server_command
        server = subprocess.Popen(server_command({path!r}, os.getpid(), ("json",)))
        while not os.path.exists({path!r}):
            time.sleep(0.05)
        print(server.pid)
    """)
    out = subprocess.run(
        [sys.executable, "-c", parent], env={**os.environ, "PYTHONPATH": WORKFLOW}, capture_output=True,
        text=True, check=True, timeout=60,
    )  # fmt: skip
    assert gone(int(out.stdout.split()[-1]))
    assert not os.path.exists(folder)


def test_start_server_and_stop_server_leave_nothing_behind(monkeypatch, tmp_path):
    from diffuse import warm

    monkeypatch.delenv(SOCKET_ENV, raising=False)
    monkeypatch.setenv("PYTHONPATH", WORKFLOW)
    process, path = warm.start_server(
        str(tmp_path / "logs" / "warm_start.log"), timeout_s=60, modules=("json",)
    )
    assert os.environ[SOCKET_ENV] == path and os.path.exists(path)
    code, report, _ = finish(run_job(tmp_path, path))
    assert code == 0 and report["ppid"] == process.pid
    warm.stop_server(process, path)
    assert SOCKET_ENV not in os.environ and not os.path.exists(os.path.dirname(path))
    assert process.poll() is not None


@pytest.mark.integration
def test_a_cold_rerun_of_a_warm_job_gives_the_same_bits(smoke_run):
    # A tuned adapter's samples and exact table from the warm smoke run, then the same job started cold.
    samples = "results/samples/smollm2-135m/rng/numbers/rng.parquet"
    exact = samples.replace("samples", "exact", 1)
    log = smoke_run / "results/logs/sample_and_exact/smollm2-135m/rng/numbers/rng.log"
    assert "peak memory:" in log.read_text()
    warm = {path: pd.read_parquet(smoke_run / path) for path in (samples, exact)}
    cold = ("--config", "warm_start=False", "--forcerun", "sample_and_exact", "--", samples)
    result = run_snakemake(smoke_run, *SMOKE, *cold)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "peak memory:" not in log.read_text()
    for path, frame in warm.items():
        assert frame.equals(pd.read_parquet(smoke_run / path)), path


@pytest.mark.integration
def test_the_smoke_runs_its_model_jobs_warm(smoke_built):
    # tests/test_slurm.py compares the smoke tree's tables with a Slurm run's, whose jobs all start cold.
    logs = sorted((smoke_built / "results" / "logs" / "sample_and_exact").rglob("*.log"))
    assert logs
    cold = [log.name for log in logs if "peak memory:" not in log.read_text()]
    assert not cold, f"{len(cold)} of {len(logs)} sample_and_exact jobs started cold: {cold}"


@pytest.mark.parametrize("is_rule_script", [True, False])
def test_a_rule_script_hands_over_at_its_first_diffuse_import(server, tmp_path, is_rule_script):
    # Snakemake's preamble defines `snakemake` before the script's imports; other programs keep running cold.
    script = tmp_path / "script.py"
    preamble = "snakemake = object()\n" if is_rule_script else ""
    script.write_text(
        preamble + "import json, os\nimport diffuse\nprint(json.dumps({'ppid': os.getppid()}))\n"
    )
    env = {**os.environ, "PYTHONPATH": WORKFLOW, SOCKET_ENV: server[1]}
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, check=True)
    ppid = json.loads(out.stdout.splitlines()[0])["ppid"]
    assert ppid == (server[0].pid if is_rule_script else os.getpid())


def test_a_job_waits_for_a_server_still_preloading(tmp_path):
    # Snakemake starts the first jobs while the server imports torch: they wait rather than import it too.
    (tmp_path / "slow_module.py").write_text("import time\ntime.sleep(2)\n")
    folder = tempfile.mkdtemp(prefix="warm-test-")
    path = os.path.join(folder, "socket")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([WORKFLOW, str(tmp_path)])}
    process = subprocess.Popen(server_command(path, modules=("slow_module",)), env=env)
    Path(path + ".pid").write_text(str(process.pid))
    try:
        assert not os.path.exists(path)
        code, report, _ = finish(run_job(tmp_path, path))
        assert code == 0 and report["ppid"] == process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert not os.path.exists(folder)  # socket and pid file removed, then its folder


def test_a_server_that_died_while_starting_is_not_waited_for(tmp_path):
    path = str(tmp_path / "socket")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    Path(path + ".pid").write_text(str(dead.pid))
    started = time.monotonic()
    code, report, _ = finish(run_job(tmp_path, path))
    assert code == 0 and report["ppid"] == os.getpid()
    assert time.monotonic() - started < 20


def test_the_child_exits_as_an_interpreter_does(server, tmp_path):
    # Non-daemon threads are joined, then atexit handlers run, before the child's status goes back.
    script = tmp_path / "threads.py"
    script.write_text(
        textwrap.dedent("""
        import atexit, os, sys, threading, time
        from diffuse.warm import hand_over
        hand_over()
        out = sys.argv[1]
        def late():
            time.sleep(0.5)
            open(out, "a").write("thread ")
        threading.Thread(target=late).start()
        atexit.register(lambda: open(out, "a").write(f"atexit {os.getppid()}"))
    """)
    )
    env = {**os.environ, "PYTHONPATH": WORKFLOW, SOCKET_ENV: server[1]}
    subprocess.run([sys.executable, str(script), str(tmp_path / "out")], env=env, check=True, timeout=60)
    assert (tmp_path / "out").read_text() == f"thread atexit {server[0].pid}"


def test_start_job_gives_a_warm_child_the_jobs_threads_and_log(server, tmp_path):
    # The server imported numpy with one BLAS thread; a cold job's BLAS reads Snakemake's thread count.
    script = tmp_path / "threads.py"
    script.write_text(
        textwrap.dedent("""
        snakemake = "as Snakemake's preamble defines it"
        import json, logging, sys
        from types import SimpleNamespace
        from diffuse.job_log import start_job
        from threadpoolctl import threadpool_info
        early = logging.getLogger("bound.before.the.job")  # as transformers binds its handler at import
        early.addHandler(logging.StreamHandler(sys.__stderr__))
        start_job(SimpleNamespace(log=[sys.argv[1]], threads=2))
        early.warning("a library warning")
        print(json.dumps(sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})))
    """)
    )
    log = tmp_path / "job.log"
    env = {**os.environ, "PYTHONPATH": WORKFLOW, SOCKET_ENV: server[1]}
    out = subprocess.run(
        [sys.executable, str(script), str(log)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout.splitlines()[-1]) == [2]
    assert "a library warning" in log.read_text()


@pytest.mark.parametrize(
    "change, expected",
    [({}, True), ({"warm_start": False}, False), ({"backend": "vllm"}, False), ({"local_exec": False}, False),
     ({"touch": True}, False), ({"conda": True}, False), ({"SLURM_JOB_ID": "7"}, False)],
)  # fmt: skip
def test_which_runs_start_a_server(monkeypatch, change, expected):
    from types import SimpleNamespace

    config = {
        "warm_start": change.get("warm_start", True),
        "sampling": {"backend": change.get("backend", "hf")},
    }
    methods = ["DeploymentMethod.CONDA"] if change.get("conda") else []
    workflow = SimpleNamespace(
        local_exec=change.get("local_exec", True), touch=change.get("touch", False),
        deployment_settings=SimpleNamespace(deployment_method=methods),
    )  # fmt: skip
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    if "SLURM_JOB_ID" in change:
        monkeypatch.setenv("SLURM_JOB_ID", change["SLURM_JOB_ID"])
    assert wanted(config, workflow) is expected

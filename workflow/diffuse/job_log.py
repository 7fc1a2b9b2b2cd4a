"""Job set-up shared by the rule scripts: log file beside the terminal, threads Snakemake granted."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


class Tee:
    """A text stream that writes to several streams (the terminal and the rule's log file)."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return self.streams[0].isatty()


def start_job(snakemake) -> None:
    """Copy stderr (progress bars, warnings, tracebacks) into the rule's log and pin torch's thread count
    (which a warm-started job, diffuse.warm, must set here: its torch was imported before the job began)."""
    if snakemake.log:
        path = Path(snakemake.log[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        sys.stderr = Tee(sys.__stderr__, open(path, "w", buffering=1))  # noqa: SIM115 - lives for the job
        _log_handlers_to(sys.stderr)
    threads = str(max(1, int(snakemake.threads)))
    # Read by torch when it is first imported; oversubscribed cores made steps 5-20x slower.
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = threads
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(threads))
    from .warm import in_warm_child

    if in_warm_child():
        # The server imported numpy single-threaded; a cold job's BLAS read the job's threads from Snakemake.
        from threadpoolctl import threadpool_limits

        threadpool_limits(int(threads))


def _log_handlers_to(stream) -> None:
    """Logging handlers bound to the raw stderr before the job began (transformers' and huggingface_hub's,
    when a warm-start server imported them) write through the job's log too, as a cold job's do."""
    import logging

    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.__stderr__:
                handler.setStream(stream)


def seconds_since_process_start() -> float:
    """Wall seconds since this job's process started (interpreter start-up and imports included); under a
    warm start, since the process Snakemake started, not the forked child."""
    from .warm import START_ENV

    if START_ENV in os.environ:
        return time.time() - float(os.environ[START_ENV])
    import psutil

    return time.time() - psutil.Process().create_time()


def report_startup(what: str) -> None:
    """One log line: how long the job took from its process start to `what` (e.g. its model loaded).
    benchmarks/run_log.py --startup sums these lines (tests/test_run_log.py keeps the two in step)."""
    print(f"start-up: {seconds_since_process_start():.2f} s from process start to {what}", file=sys.stderr)

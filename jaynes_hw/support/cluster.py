"""Where parallel work runs: in this process, on a Dask ``LocalCluster``, or on a cluster.

Commands that fan out (``analyze`` of many or huge files, ``sweep``) build their work as
tasks with ``submit(function, *arguments)``, where an argument may be an earlier task's
future, and collect them with ``as_completed``. ``open_executor`` gives them one of:

- ``InProcess``: runs each task at once, in this process (one worker, no Dask needed);
- a ``dask.distributed.Client`` on a new ``LocalCluster`` of ``workers`` processes, one
  thread each (the functions release the GIL rarely; processes scale, threads do not);
- a ``Client`` connected to a running scheduler (``--scheduler tcp://host:8786``): a
  ``dask-scheduler`` with ``dask-worker`` processes, or dask-jobqueue's ``SLURMCluster``.
  The workers need jaynes-hw installed and must see the same files (a shared file system).

Dask is the ``cluster`` extra; asking for more than one worker without it is a one-line
error naming the extra.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jaynes_hw.support.errors import UserError
from jaynes_hw.support.extras import require_extra

CONNECT_SECONDS = 10  # an unreachable scheduler is reported after this long, not a hang


class Done:
    """The outcome of a task run by ``InProcess``: its value or the exception it raised."""

    def __init__(self, function: Callable, arguments: tuple, keywords: dict):
        try:
            self._value = function(*(_resolved(value) for value in arguments), **keywords)
            self._error: BaseException | None = None
        except Exception as error:
            self._value, self._error = None, error

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value

    @property
    def value(self) -> Any:
        return self._value

    def exception(self) -> BaseException | None:
        return self._error


def _resolved(value: Any) -> Any:
    return value.result() if isinstance(value, Done) else value


class InProcess:
    """Runs every task immediately in this process: ``submit`` returns a finished ``Done``.

    Keywords that only matter to Dask (``key``, ``pure``, ``retries``, ``resources``) are
    accepted and ignored, so the same code drives both.
    """

    DASK_ONLY = ("key", "pure", "retries", "resources", "priority")

    def submit(self, function: Callable, *arguments: Any, **keywords: Any) -> Done:
        for name in self.DASK_ONLY:
            keywords.pop(name, None)
        return Done(function, arguments, keywords)


def as_completed(executor, futures: Iterable) -> Iterator[tuple[Any, Any, BaseException | None]]:
    """``(future, result, error)`` in the order the futures finish (``InProcess``: the order
    given); ``error`` is the exception the task raised (then ``result`` is None). The results
    come with the completion notices: no round trip per future."""
    futures = list(futures)
    if isinstance(executor, InProcess):
        for future in futures:
            yield future, future.value, future.exception()
        return
    distributed = require_extra("distributed", "cluster", "running on several workers")
    finished = distributed.as_completed(futures, with_results=True, raise_errors=False)
    for future, outcome in finished:
        if future.status == "error":
            yield (
                future,
                None,
                outcome if isinstance(outcome, BaseException) else future.exception(),
            )
        else:
            yield future, outcome, None


@contextlib.contextmanager
def open_executor(workers: int = 1, scheduler: str | None = None) -> Iterator[Any]:
    """``InProcess`` for one local worker, else a Dask client (closed on the way out).

    Raises
    ------
    UserError
        Dask is not installed (the ``cluster`` extra), or the scheduler cannot be reached
        within ``CONNECT_SECONDS``.
    """
    if scheduler is None and workers <= 1:
        yield InProcess()
        return
    distributed = require_extra("distributed", "cluster", "running on several workers")
    if scheduler is not None:
        client = _connect(distributed, scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    dask = require_extra("dask", "cluster", "running on several workers")
    # Measured here, each of these slows a worker's tasks by 15-30 %: the statistical
    # profiler samples every thread's stack 100 times a second under the GIL; Dask's fixed
    # MALLOC_TRIM_THRESHOLD_ turns off glibc's adaptive mmap threshold, so every temporary
    # array above 128 kB is a fresh mmap, page-faulted in and unmapped again.
    quiet_workers = {
        "distributed.worker.profile.enabled": False,
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    }
    with dask.config.set(quiet_workers):
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: never "8787 is already in use"
            silence_logs=logging.ERROR,
        )
    try:
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers N`` and ``--scheduler ADDRESS`` (analyze, sweep)."""
    from jaynes_hw.support.arguments import positive_int

    parser.add_argument(
        "--workers",
        type=positive_int,
        default=os.cpu_count() or 1,
        help="local worker processes (a Dask LocalCluster; 1 runs in this process; "
        "default: one per core)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on an existing Dask cluster instead, e.g. tcp://head:8786 (needs "
        "jaynes-hw[cluster] on every worker, and the files on a shared file system)",
    )


def _connect(distributed, scheduler: str):
    try:
        return distributed.Client(scheduler, timeout=f"{CONNECT_SECONDS}s")
    except (OSError, TimeoutError, ValueError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(
            f"--scheduler {scheduler}: cannot reach the Dask scheduler ({detail})"
        ) from None

"""Training jobs in forked worker processes that read large shared inputs without pickling them."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from typing import Callable

#: The inputs every job of the running `fork_map` reads, set before the workers fork.
SHARED: dict = {}


def fork_map(fn: Callable, jobs: list[tuple], processes: int, **shared) -> list:
    """`fn(*job)` for every job, in `processes` forked workers, results in job order. `shared`
    becomes `SHARED` before the fork: the workers inherit it instead of receiving a pickled copy
    (only each job's arguments and result cross the process boundary)."""
    SHARED.clear()
    SHARED.update(shared)
    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as ex:
        return list(ex.map(fn, *zip(*jobs)))

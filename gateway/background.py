"""Work no caller waits for (writing the cache's blobs, reading finished results for the library) runs in threads
at the lowest CPU priority: on a machine whose cores are rendering the next call, it takes only what they leave."""

import asyncio
import functools
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def _lowest_priority() -> None:
    if sys.platform == "linux":  # where a thread has a nice value of its own (elsewhere it is the process's)
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="background", initializer=_lowest_priority)


async def in_background(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`function(*args, **kwargs)` in a lowest-priority thread."""
    return await asyncio.get_running_loop().run_in_executor(_THREADS, functools.partial(function, *args, **kwargs))

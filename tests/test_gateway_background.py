import os
import threading

from gateway.background import in_background


async def test_background_work_runs_in_a_thread_at_the_lowest_cpu_priority() -> None:
    def priority() -> tuple[int, int]:
        return threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    thread, nice = await in_background(priority)
    assert thread != threading.get_native_id()
    assert nice == 19
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < 19  # the caller's own is untouched

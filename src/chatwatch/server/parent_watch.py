"""Worker processes end with their parent.

A server killed with SIGKILL runs no clean-up, and spawned pool workers would live on
(with their memory and multiprocessing's resource tracker, which waits for them). Each
worker runs this as its pool initializer: a daemon thread that exits the worker as soon
as its parent is gone (re-parented, ``getppid`` changes).
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["exit_with_parent"]

POLL_S = 0.5


def exit_with_parent(parent_pid: int, poll_s: float = POLL_S) -> None:
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(0)  # nothing to clean up: the work in hand had nobody left to answer

    threading.Thread(target=watch, name="chatwatch-parent-watch", daemon=True).start()

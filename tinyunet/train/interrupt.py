"""Ctrl-C between training steps, never inside one."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


@contextmanager
def deferred_interrupt():
    """Hold Ctrl-C until the block ends.

    ``optimizer.step()`` updates the parameters one by one: interrupted halfway, the weights
    would match no step at all, and the checkpoint saved on the way out would be corrupt.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield  # signals reach only the main thread; None: a handler Python can't restore
        return
    received = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt

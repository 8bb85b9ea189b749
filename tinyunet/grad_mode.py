"""Grad mode: whether ops record the graph that backward will walk.

``with tu.no_grad(): ...`` turns recording off (inference, weight updates), ``enable_grad``
turns it back on; both also work as decorators. ``Function.apply`` asks ``is_grad_enabled()``
before it records a node.
"""

from __future__ import annotations

import functools

_grad_enabled = True


def is_grad_enabled() -> bool:
    return _grad_enabled


class _GradMode:
    """Context manager and decorator that sets grad mode, restoring the old one after."""

    mode: bool

    def __enter__(self):
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Record no graph inside: ``with tu.no_grad(): y = model(x)`` (inference, updates)."""

    mode = False


class enable_grad(_GradMode):
    mode = True

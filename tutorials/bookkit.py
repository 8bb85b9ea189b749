"""What every chapter of the book shares: fast mode, a figure with its takeaway, and a slider.

``FAST``                 True under ``TINYUNET_BOOK_FAST=1`` (what ``make test`` sets): the
                         chapters shrink their training so that each runs in seconds; the
                         numbers they assert hold in both modes.
``fast_or_full(a, b)``   ``a`` in fast mode, ``b`` otherwise.
``show(fig, takeaway)``  display a matplotlib figure with its one-line takeaway under it.
``interact(fn, **ranges)``  a slider: live ipywidgets in Jupyter; executed headless (the book's
                         build sets ``TINYUNET_BOOK_STATIC=1``, and so does a plain ``python``
                         run) a strip of small multiples, one panel per preset value, so a static
                         page still shows what the slider does.

This is plumbing for the notebooks, not part of the library: the chapters compute everything
with ``tinyunet`` itself.
"""

from __future__ import annotations

import io
import os

import matplotlib

matplotlib.use("Agg")  # figures are displayed explicitly, the same way live and headless
import matplotlib.pyplot as plt  # noqa: E402

FAST = os.environ.get("TINYUNET_BOOK_FAST", "") == "1"


def fast_or_full(fast, full):
    """``fast`` when the book runs in fast mode (``TINYUNET_BOOK_FAST=1``), else ``full``."""
    return fast if FAST else full


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def static() -> bool:
    """True when sliders must be drawn as strips (headless build, or no Jupyter kernel)."""
    return os.environ.get("TINYUNET_BOOK_STATIC", "") == "1" or not _in_kernel()


def _display(obj):
    try:
        from IPython.display import display
    except ImportError:  # a plain python run: nothing to show on
        return
    display(obj)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def show(fig, takeaway: str) -> None:
    """Display ``fig`` and, under it, its one-line takeaway (the sentence a reader keeps)."""
    if not takeaway or "\n" in takeaway:
        raise ValueError("show: the takeaway is one line of text")
    from IPython.display import Image, Markdown

    _display(Image(_png(fig)))
    _display(Markdown(f"**Takeaway:** {takeaway}"))


def _presets(spec) -> list:
    """The values a static strip shows for one slider: a list's items, or lo/mid/hi of a
    (lo, hi) or (lo, hi, step) range."""
    if isinstance(spec, list):
        return spec
    lo, hi = spec[0], spec[1]
    mid = (lo + hi) / 2 if isinstance(lo, float) or isinstance(hi, float) else (lo + hi) // 2
    return [lo, mid, hi]


def _widget(name, spec):
    import ipywidgets as widgets

    if isinstance(spec, list):
        return widgets.SelectionSlider(options=spec, value=spec[0], description=name,
                                       continuous_update=False)
    lo, hi, *step = spec
    kind = widgets.FloatSlider if isinstance(lo, float) or isinstance(hi, float) else \
        widgets.IntSlider
    return kind(min=lo, max=hi, step=step[0] if step else (1 if kind is widgets.IntSlider
                                                            else (hi - lo) / 20),
                value=lo, description=name, continuous_update=False)


def interact(fn, panels: int = 1, panel_size=(3.2, 3.0), title: str = "", **ranges):
    """A slider over ``fn(axes, **values)``, which draws one setting into ``axes`` (one Axes,
    or an array of ``panels`` of them).

    ``ranges`` maps each argument to a list of values (a selection slider) or a ``(lo, hi)``
    / ``(lo, hi, step)`` range. Live in Jupyter: ipywidgets sliders redraw the figure. Headless:
    the *first* argument takes each of its presets (the list, or lo / mid / hi), the others stay
    at their first value, and the settings are drawn side by side (``panels`` > 1: one row
    each), so the page shows what moving the slider does.
    """
    if not ranges:
        raise ValueError("interact: give at least one slider, e.g. depth=[1, 2, 3]")
    w, h = panel_size
    if not static():
        import ipywidgets as widgets

        def redraw(**values):
            fig, axes = plt.subplots(1, panels, figsize=(w * panels, h), layout="constrained")
            fn(axes, **values)
            if title:
                fig.suptitle(title)
            _display(_image(fig))

        controls = {name: _widget(name, spec) for name, spec in ranges.items()}
        widgets.interact(redraw, **controls)
        return
    first, *rest = ranges
    fixed = {name: _presets(ranges[name])[0] for name in rest}
    values = _presets(ranges[first])
    n = len(values)
    if panels == 1:
        fig, axes = plt.subplots(1, n, figsize=(w * n, h), layout="constrained", squeeze=False)
        rows = [axes[0, i] for i in range(n)]
    else:
        fig, axes = plt.subplots(n, panels, figsize=(w * panels, h * n), layout="constrained",
                                 squeeze=False)
        rows = list(axes)
    for axes_i, value in zip(rows, values):
        fn(axes_i, **{first: value}, **fixed)
    fig.suptitle((title + "\n" if title else "") +
                 f"the slider {first!r} at {', '.join(map(str, values))}"
                 + (f" ({', '.join(f'{k}={v}' for k, v in fixed.items())})" if fixed else ""))
    _display(_image(fig))


def _image(fig):
    from IPython.display import Image

    return Image(_png(fig))

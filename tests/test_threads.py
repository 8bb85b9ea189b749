"""parallel_for: every item to exactly one worker; a fixed share when sums must repeat."""

import threading
import time

import pytest

from tinyunet import threads


@pytest.mark.parametrize("n", [0, 1, 2, 7, 100])
def test_every_item_goes_to_exactly_one_worker(n):
    def take(mine):
        return [(item, threading.get_ident()) for item in mine]

    results = threads.parallel_for(take, [f"item{i}" for i in range(n)])
    taken = [item for result in results for item, _ in result]
    assert sorted(taken) == sorted(f"item{i}" for i in range(n))
    assert len(results) == min(threads.num_threads(), n)


def test_a_slow_worker_takes_fewer_items():
    if threads.num_threads() < 2:
        pytest.skip("one worker only")
    main = threading.get_ident()

    def take(mine):
        count = 0
        for _ in mine:
            count += 1
            time.sleep(0.02 if threading.get_ident() == main else 0.001)
        return count

    mine, *others = threads.parallel_for(take, range(40))
    assert mine + sum(others) == 40 and mine < sum(others)


def test_fixed_share_is_by_position_whatever_the_timing():
    T = threads.num_threads()

    def take(mine):
        return list(mine)

    results = threads.parallel_for(take, range(10), fixed=True)
    assert results == [list(range(k, 10, T)) for k in range(min(T, 10))]


def test_parallel_for_keeps_no_reference_to_its_function_once_it_returns():
    """A share the calling thread ran itself waits, cancelled, in the pool's queue until a
    worker wakes: it must not keep the function (and the arrays its closure holds) alive.
    Here every worker is held busy, so the calling thread runs every share."""
    import weakref

    class Held:
        pass

    release = threading.Event()
    busy = [threads._workers().submit(release.wait) for _ in range(threads.num_threads() - 1)]
    try:
        held = Held()
        ref = weakref.ref(held)
        out = threads.parallel_for(lambda mine, held=held: sum(mine), range(8))
        del held
        assert sum(out) == sum(range(8)) and ref() is None
    finally:
        release.set()
        for f in busy:
            f.result()

"""Commits run off the caller's thread, in order; cancelling abandons only what has not started."""

import threading

import pytest

from poolcli.io.commits import Commits


def test_commits_run_in_order_on_another_thread() -> None:
    seen: list[tuple[int, str]] = []
    with Commits() as commits:
        futures = [
            commits.submit(
                lambda i=i: seen.append((i, threading.current_thread().name)), lambda: None
            )
            for i in range(20)
        ]
    assert [i for i, _ in seen] == list(range(20))
    assert all(name.startswith("poolcli-commit") for _, name in seen)
    assert all(f.done() and f.exception() is None for f in futures)


def test_an_error_stays_with_its_commit() -> None:
    def fail() -> None:
        raise OSError(28, "No space left on device")

    with Commits() as commits:
        bad = commits.submit(fail, lambda: None)
        good = commits.submit(lambda: None, lambda: None)
    with pytest.raises(OSError, match="No space"):
        bad.result()
    assert good.result() is None


def test_cancel_abandons_what_has_not_started() -> None:
    started, release = threading.Event(), threading.Event()
    abandoned: list[int] = []

    def slow() -> None:
        started.set()
        release.wait(10)

    commits = Commits()
    running = commits.submit(slow, lambda: abandoned.append(0))
    later = [commits.submit(lambda: None, lambda i=i: abandoned.append(i)) for i in (1, 2)]
    started.wait(10)
    threading.Timer(0.05, release.set).start()
    commits.close(cancel=True)
    assert running.done() and running.exception() is None  # the one running finishes
    assert all(f.cancelled() for f in later)
    assert abandoned == [1, 2]


def test_an_exception_in_the_block_cancels() -> None:
    abandoned: list[str] = []
    started, gate = threading.Event(), threading.Event()

    def first() -> None:
        started.set()
        gate.wait(10)

    with pytest.raises(KeyboardInterrupt), Commits() as commits:
        commits.submit(first, lambda: abandoned.append("first"))
        commits.submit(lambda: None, lambda: abandoned.append("second"))
        started.wait(10)
        threading.Timer(0.05, gate.set).start()
        raise KeyboardInterrupt
    assert abandoned == ["second"]  # the running one finished, the queued one was dropped

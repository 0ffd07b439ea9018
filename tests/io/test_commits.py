"""Commits run off the caller's thread, in order; cancelling abandons only what has not started."""

import threading

import pytest

from poolcli.io.commits import Commits


@pytest.mark.parametrize("threads", [1, 4])
def test_commits_run_on_other_threads(threads: int) -> None:
    seen: list[tuple[int, str]] = []
    with Commits(threads) as commits:
        for i in range(20):
            commits.submit(
                i, lambda i=i: seen.append((i, threading.current_thread().name)), lambda: None
            )
        for i in range(20):
            commits.wait(i)
            assert commits.done(i)  # forgotten once waited for
    assert sorted(i for i, _ in seen) == list(range(20))
    if threads == 1:
        assert [i for i, _ in seen] == list(range(20))  # one thread: in order
    assert all(name.startswith("poolcli-commit") for _, name in seen)


def test_an_error_stays_with_its_commit() -> None:
    def fail() -> None:
        raise OSError(28, "No space left on device")

    with Commits() as commits:
        commits.submit("bad", fail, lambda: None)
        commits.submit("good", lambda: None, lambda: None)
        commits.wait("good")
        with pytest.raises(OSError, match="No space"):
            commits.wait("bad")
        commits.wait("bad")  # forgotten: nothing more to say


def test_done_says_whether_it_has_ended() -> None:
    gate = threading.Event()
    with Commits() as commits:
        commits.submit("slow", lambda: gate.wait(10), lambda: None)
        assert not commits.done("slow")
        assert commits.done("never submitted")
        gate.set()
        commits.wait("slow")


def test_cancel_abandons_what_has_not_started() -> None:
    started, release = threading.Event(), threading.Event()
    abandoned: list[int] = []
    finished: list[int] = []

    def slow() -> None:
        started.set()
        release.wait(10)
        finished.append(0)

    commits = Commits(1)  # one thread: the later ones wait behind the first
    commits.submit(0, slow, lambda: abandoned.append(0))
    for i in (1, 2):
        commits.submit(i, lambda i=i: finished.append(i), lambda i=i: abandoned.append(i))
    started.wait(10)
    threading.Timer(0.05, release.set).start()
    commits.close(cancel=True)
    assert finished == [0]  # the one running finishes
    assert abandoned == [1, 2]


def test_an_exception_in_the_block_cancels() -> None:
    abandoned: list[str] = []
    started, gate = threading.Event(), threading.Event()

    def first() -> None:
        started.set()
        gate.wait(10)

    with pytest.raises(KeyboardInterrupt), Commits(1) as commits:
        commits.submit("first", first, lambda: abandoned.append("first"))
        commits.submit("second", lambda: None, lambda: abandoned.append("second"))
        started.wait(10)
        threading.Timer(0.05, gate.set).start()
        raise KeyboardInterrupt
    assert abandoned == ["second"]  # the running one finished, the queued one was dropped

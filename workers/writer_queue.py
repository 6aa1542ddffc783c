"""SQLite: the worker processes queue for the database's one writer on a file lock beside it.

SQLite lets one transaction write at a time. One that finds the file locked waits in SQLite's
busy handler, which sleeps 1, 2, 5, 10, 15 ms... between tries: with two worker processes the
second one often slept on while the lock stood free: two processes drained 84-105 accounts a
second (mean 99), hardly more than one (89-100), and 93-134 (mean 110) with this queue, over
ten runs of each taken in turn (1,000 accounts each, the bench's stack). Each
process lets one of its threads at a time into a stage transaction (`stage_actor`); that thread
then takes an advisory lock (flock) on `<database>-writers`, trying again every 0.1 ms at first
and every millisecond at most, and gives it back once the transaction has ended.

It is a queue in front of SQLite's lock, never a lock of its own: SQLite's lock still decides
who writes (the gateway and `kamflow` commands do not queue here). A process that waits longer
than `WAIT_S` goes on to SQLite's lock without it, so a process that stopped while holding it,
or a time limit's exception that landed between taking it and using it, costs a wait, never a
stall; and a process that left it taken takes it back, and gives it back, with its next
transaction (a flock is the open file's, and this process's file is already holding it).
"""

from __future__ import annotations

import fcntl
import os
import time

#: The longest a transaction waits in the queue before going on to SQLite's lock without it.
WAIT_S = 1.0
FIRST_RETRY_S = 0.0001
LONGEST_RETRY_S = 0.001

#: (process id, database path, file descriptor) of the lock file this process opened last: a
#: forked worker opens its own, and a process bound to another database (tests) that one's.
_opened: tuple[int, str, int] | None = None


def queue_path(database_path: str) -> str:
    """The file the processes writing to `database_path` queue on."""
    return f"{database_path}-writers"


def _lock_file(database_path: str) -> int:
    global _opened
    if _opened is None or _opened[:2] != (os.getpid(), database_path):
        if _opened is not None and _opened[0] == os.getpid():
            os.close(_opened[2])  # the lock of a database this process no longer writes to
        _opened = (os.getpid(), database_path, os.open(queue_path(database_path), os.O_RDWR | os.O_CREAT, 0o600))
    return _opened[2]


def join(database_path: str) -> bool:
    """Wait for this process's turn to write (see the module); False if it went on without it.
    The caller holds its process's writer lock, so no other thread of the process is queued."""
    descriptor = _lock_file(database_path)
    deadline = time.monotonic() + WAIT_S
    delay = FIRST_RETRY_S
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, LONGEST_RETRY_S)


def leave() -> None:
    """Give the turn to the next process (the transaction has ended)."""
    if _opened is not None and _opened[0] == os.getpid():
        fcntl.flock(_opened[2], fcntl.LOCK_UN)

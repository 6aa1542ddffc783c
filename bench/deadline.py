"""The bench's hard time limit: every wait checks it, so a stuck run stops by itself."""

from __future__ import annotations

import time


class BenchTimeout(Exception):
    pass


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.remaining() <= 0

    def check(self, doing: str) -> None:
        if self.passed():
            raise BenchTimeout(f"hard timeout of {self.seconds:.0f} s reached while {doing}")

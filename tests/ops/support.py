"""What the operators' door tests share that is not a fixture: an operator's browser and the
queue counts of /ops's snapshot (fixtures are in conftest.py)."""

from __future__ import annotations

from csrf import csrf_token
from support import PASSWORD


class OpsBrowser:
    """A test client as an operator's browser: logs in, posts forms with their CSRF token."""

    def __init__(self, client):
        self.client = client

    def login(self, email: str) -> OpsBrowser:
        answer = self.post("/login", {"email": email, "password": PASSWORD}, page="/login")
        assert answer.status_code == 302, answer.text
        return self

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def csrf(self, page="/ops") -> str:
        return csrf_token(self.client.get(page).text)

    def post(self, path, data=None, page="/ops"):
        return self.client.post(path, data={"csrf_token": self.csrf(page), **(data or {})})

    def snapshot(self) -> dict:
        answer = self.client.get("/ops/snapshot.json")
        assert answer.status_code == 200, answer.text
        return answer.get_json()


def queue(snapshot: dict, name: str) -> dict:
    return next(q for q in snapshot["queues"] if q["queue"] == name)

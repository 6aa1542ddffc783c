"""The CSRF token a page's form carries, read the way a browser would submit it: one reader for
every test that posts a form by hand, so a change of the form's markup is followed in one place."""

from __future__ import annotations

import re

TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def csrf_token(page: str) -> str:
    """The token of the first form on `page` (HTML); fails the test loudly when there is none."""
    found = TOKEN.search(page)
    assert found, "the page has no CSRF token"
    return found.group(1)

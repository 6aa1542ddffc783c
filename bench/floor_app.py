"""The bare JSON endpoint the accept figure is compared with: Flask, served by the same
gunicorn settings, taking the same request body from the same client, and doing nothing with
it but parse it and answer 202 with an id — no auth, no validation, no database, no broker.

`gunicorn bench.floor_app:app`. What kamflow's POST costs beyond this is kamflow's own.
"""

from __future__ import annotations

import itertools
import os

from flask import Flask, jsonify, request

app = Flask(__name__)
_ids = itertools.count(os.getpid() * 1_000_000)


@app.get("/api/v1/markets")
def markets():
    """The client's warm-up call, as on kamflow's gateway."""
    return jsonify([])


@app.post("/api/v1/customer-accounts")
def accept():
    body = request.get_json()
    return jsonify(id=next(_ids), company=body["customer"]["company"]), 202

"""API request bodies, each for a different customer (unique email and reference)."""

from __future__ import annotations

import datetime as dt

from bench.organisation import KAM_EMAIL


def account_request(tag: str, index: int, access: bool) -> dict:
    """Like a CRM's: with access, two markets (one with the manager's forecast); without, none."""
    today = dt.date.today()
    body = {
        "kam_email": KAM_EMAIL,
        "customer": {
            "company": f"Bench Customer {tag} {index} SAS",
            "customer_reference": f"B-{tag}-{index:06d}",
            "last_name": "Martin",
            "first_name": "Claire",
            "phone": "+33 1 23 45 67 89",
            "email": f"contact-{tag}-{index}@bench-customer.example",
            "is_demo": False,
        },
        "setup": {"app_access": False},
    }
    if access:
        body["setup"] = {
            "app_access": True,
            "editor": "customer",
            "markets": [
                {
                    "market": "fr-power",
                    "start_date": today.isoformat(),
                    "end_date": (today + dt.timedelta(days=400)).isoformat(),
                    "forecasts": ["application", "manager", "client"],
                    "max_optimisations": 2,
                },
                {
                    "market": "de-gas",
                    "end_date": (today + dt.timedelta(days=200)).isoformat(),
                    "forecasts": ["application"],
                    "max_optimisations": 1,
                },
            ],
        }
    return body

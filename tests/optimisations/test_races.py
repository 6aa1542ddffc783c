"""Two writers of one account's optimisations at once: the limits hold whatever the timing.

Each writer checks the limits, then writes. Without holding the account between the two, two
requests could both pass the check on the same state (PostgreSQL's READ COMMITTED lets a second
transaction read what the first has not committed yet as if it were not there). The tests hold
the first writer just after its check, let the second one start, and see that the second one
waits and checks again on what the first wrote. On SQLite the writer lock already serialises
them; the tests run there too, as the same promise.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal

from marshmallow import ValidationError

from optimisations.support import optimisation_body
from shared import db, parameters
from shared.models import CustomerAccount, Fixing, MarketAccess, Optimisation
from shared.optimisations import editing, limits
from shared.optimisations.schemas import OptimisationSchema

TODAY = dt.date.today()


def rendezvous(
    monkeypatch, module, name: str, barrier: threading.Barrier, arrived: threading.Event | None = None
) -> None:
    """Make `module.name` wait (at most 2 s) for the other writer after doing its work (and say
    so through `arrived`): both writers are then between their check and their write at the same
    time, unless one of them waits for the other's transaction, in which case the barrier gives
    up and both go on."""
    real = getattr(module, name)

    def meet(*args, **kwargs):
        result = real(*args, **kwargs)
        if arrived is not None:
            arrived.set()
        try:
            barrier.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass
        return result

    monkeypatch.setattr(module, name, meet)


def both(*writers: Callable[[], object]) -> list[object]:
    """Run the writers in their own threads (own connections) at once; return what each
    returned or raised, in order."""
    outcomes: list[object] = [None] * len(writers)

    def run(index: int, writer: Callable[[], object]) -> None:
        with db.database.connection_context():
            try:
                outcomes[index] = writer()
            except Exception as error:  # the refusal is the outcome looked at
                outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_two_fixings_at_once_never_fix_more_than_the_volume(make_account, monkeypatch):
    """60 % and 70 % recorded at the same moment on one optimisation: one is recorded, the other
    is refused with what is left, and the calendar never holds 130 %."""
    account_id = make_account(**{"setup.editor": "kam"})
    with db.database.connection_context():
        optimisation = editing.create(
            CustomerAccount.get_by_id(account_id),
            OptimisationSchema().load(optimisation_body(window_start=(TODAY - dt.timedelta(days=5)).isoformat())),
            limits.KAM,
            "kam",
            TODAY,
        )
    rendezvous(monkeypatch, editing, "_fixed", threading.Barrier(2))

    def fix(share: int) -> Callable[[], object]:
        return lambda: editing.record_fixing(
            optimisation, {"fixed_on": TODAY, "price": Decimal(80), "share_pct": Decimal(share)}, limits.KAM, "k", TODAY
        )

    outcomes = both(fix(60), fix(70))
    refused = [o for o in outcomes if isinstance(o, ValidationError)]
    assert len(refused) == 1 and "left to fix" in refused[0].messages["share_pct"][0], outcomes
    with db.database.connection_context():
        shares = [Decimal(f.share_pct) for f in Fixing.select().where(Fixing.optimisation == optimisation.id)]
    assert len(shares) == 1 and sum(shares) <= 100


def test_lowering_the_maximum_while_an_optimisation_takes_the_last_place(make_account, monkeypatch):
    """fr-power allows 2 and has 1; a second is created while the KAM lowers the maximum to 1.
    Whichever goes first, the account never ends with more optimisations than its maximum: here
    the creation has checked first, so the change waits for it and is refused, saying why."""
    account_id = make_account(**{"setup.editor": "kam"})
    with db.database.connection_context():
        account = CustomerAccount.get_by_id(account_id)
        editing.create(account, OptimisationSchema().load(optimisation_body(name="A")), limits.KAM, "kam", TODAY)
        setup = {
            "app_access": True,
            "editor": "kam",
            "markets": [
                {
                    "market": row.market,
                    "start_date": row.start_date,
                    "end_date": row.end_date,
                    "forecasts": row.forecasts,
                    "max_optimisations": 1 if row.market == "fr-power" else row.max_optimisations,
                }
                for row in account.markets
            ],
        }
    barrier, checked = threading.Barrier(2), threading.Event()
    rendezvous(monkeypatch, limits, "check_create", barrier, arrived=checked)
    rendezvous(monkeypatch, limits, "orphan_problems", barrier)

    def create() -> object:
        body = OptimisationSchema().load(optimisation_body(name="B"))
        return editing.create(CustomerAccount.get_by_id(account_id), body, limits.KAM, "kam", TODAY)

    def lower() -> object:
        checked.wait(5)  # the creation has checked the limits and not written yet
        return parameters.apply_change(CustomerAccount.get_by_id(account_id), {"setup": setup}, actor="kam")

    created, lowered = both(create, lower)
    assert isinstance(created, Optimisation), created
    assert isinstance(lowered, parameters.ChangeRefused), lowered
    assert "its maximum cannot go below 2" in " ".join(lowered.errors["_schema"])
    with db.database.connection_context():
        count = Optimisation.select().where(Optimisation.account == account_id).count()
        maximum = MarketAccess.get((MarketAccess.account == account_id) & (MarketAccess.market == "fr-power"))
    assert count == 2 and maximum.max_optimisations == 2

"""The one place an account's status changes: the workflow's state machine, enforced.

Two functions, and nothing else in kamflow writes `CustomerAccount.status` (a test reads the
source to hold us to it):
- `move` changes the status from the one the caller saw to a new one: it checks
  `workflow.TRANSITIONS` first, then makes a conditional UPDATE (`WHERE id = ? AND status =
  <expected>`, the status only checked on the row its id finds: `db.row_check`), and says
  whether it moved. Two writers racing for the same account (two deliveries of a stage, a stage
  and an operator) cannot both win, and neither overwrites what the other changed, because only
  the status and the columns named are written. Writes that go with a move (a stage's run and
  its attempt) can be made in its statement (`Also`).
- `send_back` puts an account back at a stage to run it again (an operator's retry, a change of
  parameters, a resend of credentials): one `move`, and the stage runs to re-run made `waiting`
  again. The caller sends the stage after its transaction commits (`send_stage`); when the
  broker is down the reconciler sends it later, since the status says which stage is due.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable, Mapping

import peewee

from shared import broker, db, workflow
from shared.models import CustomerAccount, StageRun, utcnow

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Also:
    """Writes made with a move, only if the account moved. On PostgreSQL they are data-modifying
    CTEs of the move's one statement: one round trip to the server instead of one a statement,
    and a stage message makes a move with writes of its own every time. `ctes(moved)` builds
    them, given the move's UPDATE as the CTE `moved` (its RETURNING: the account's `id`, no row
    if it did not move), with `db.param`s named apart from the move's (`id`, `expected`, `new`,
    `now`, `column_<name>`). `separately(**values)` makes the same writes as statements of their
    own, after the move, where the database has no data-modifying CTEs (SQLite). Make one per
    kind of write, at module level: its statement's SQL is generated once."""

    ctes: Callable[[peewee.CTE], list[peewee.CTE]]
    separately: Callable[..., object]


@dataclasses.dataclass(frozen=True)
class Reading:
    """Values read with a move, of the account it moved (where its webhook events go). On
    PostgreSQL they are columns of the move's one statement, after the moved id: one round trip
    fewer. `columns(account)` builds them, given the account's id as SQL: the CTE `moved`'s id
    there, the parameter `id` in the SELECT of their own that reads them after the move
    elsewhere (SQLite). Make one per kind of read, at module level, as an `Also`."""

    columns: Callable[[peewee.Node], list[peewee.Node]]


def move(
    account_id: int,
    expected: str,
    new: str,
    *,
    via: str | None = None,
    also: Also | None = None,
    also_values: Mapping[str, object] | None = None,
    **columns: object,
) -> bool:
    """Move the account from `expected` to `new` if it is still `expected`; returns whether it
    moved. `columns` are written in the same UPDATE (and only then). Raises
    workflow.IllegalTransition for a move the workflow does not allow, before touching anything.

    `via`: a status the account passes through inside the caller's transaction, which no one
    else can see (a stage begun and finished in one transaction goes from `pending` through
    `validating` to the next status): both steps are checked, one UPDATE is made.

    `also`: writes that go with the move and are made only if the account moved (a stage's run
    and attempt recorded), with `also_values` for their parameters; on PostgreSQL in the move's
    own statement (`Also`)."""
    return _move(account_id, expected, new, via, also, also_values, None, columns) is not None


def move_reading(
    account_id: int,
    expected: str,
    new: str,
    *,
    via: str | None,
    also: Also | None,
    also_values: Mapping[str, object] | None,
    reading: Reading | None,
    **columns: object,
) -> tuple | None:
    """`move`, returning None if the account did not move, else the values of `reading` for it
    (in the move's statement on PostgreSQL); an empty tuple without one."""
    return _move(account_id, expected, new, via, also, also_values, reading, columns)


def _move(
    account_id: int,
    expected: str,
    new: str,
    via: str | None,
    also: Also | None,
    also_values: Mapping[str, object] | None,
    reading: Reading | None,
    columns: Mapping[str, object],
) -> tuple | None:
    if via is not None and via != expected:
        workflow.check_transition(expected, via)
        workflow.check_transition(via, new)
    else:
        workflow.check_transition(expected, new)
    values = {f"column_{name}": value for name, value in columns.items()}
    values.update(id=account_id, expected=expected, new=new, now=utcnow())
    if also is None and reading is None:
        return () if _move_statement(tuple(columns))(**values) else None
    if isinstance(db.database.obj, peewee.PostgresqlDatabase):
        statement = _move_also_statement(also or _NOTHING, reading, tuple(columns))
        rows = statement.rows(**values, **(also_values or {}))
        return tuple(rows[0][1:]) if rows else None
    if not _move_statement(tuple(columns))(**values):
        return None
    if also is not None:
        also.separately(**(also_values or {}))
    return () if reading is None else tuple(_read_statement(reading).rows(id=account_id)[0])


#: No writes with the move (a move that only reads with it).
_NOTHING = Also(lambda moved: [], lambda **values: None)


@functools.cache
def both(first: Also, second: Also) -> Also:
    """The writes of `first` and of `second`, with one move (the same `Also` for the same two,
    so its statement's SQL is generated once); their parameters' names must differ."""

    def separately(**values: object) -> None:
        first.separately(**values)
        second.separately(**values)

    return Also(lambda moved: [*first.ctes(moved), *second.ctes(moved)], separately)


def _move_query(columns: tuple[str, ...]) -> peewee.ModelUpdate:
    extra = {name: db.param(f"column_{name}", getattr(CustomerAccount, name)) for name in columns}
    return CustomerAccount.update(
        status=db.param("new"), updated_at=db.param("now", CustomerAccount.updated_at), **extra
    ).where((CustomerAccount.id == db.param("id")) & db.row_check(CustomerAccount.status == db.param("expected")))


#: The UPDATE of `move`, per set of extra columns it writes, its SQL generated once (a stage
#: moves an account with every message: generating it took longer than SQLite running it).
_MOVES: dict[tuple[str, ...], Callable[..., int]] = {}


def _move_statement(columns: tuple[str, ...]) -> Callable[..., int]:
    statement = _MOVES.get(columns)
    if statement is None:
        statement = _MOVES[columns] = db.prepared_write(lambda: _move_query(columns))
    return statement


#: PostgreSQL: the move, the writes of an `Also` and the values of a `Reading` as one statement,
#: per `Also`, `Reading` and set of columns.
_MOVES_ALSO: dict[tuple[Also, Reading | None, tuple[str, ...]], db.Prepared] = {}


def _move_also_statement(also: Also, reading: Reading | None, columns: tuple[str, ...]) -> db.Prepared:
    """WITH moved AS (UPDATE customer_account ... RETURNING id), <also's CTEs> SELECT id,
    <reading's columns> FROM moved: every CTE runs, and the row the SELECT returns (none if the
    account did not move) says whether it moved."""
    key = (also, reading, columns)
    statement = _MOVES_ALSO.get(key)
    if statement is None:

        def build() -> peewee.Select:
            moved = peewee.CTE("moved", _move_query(columns).returning(CustomerAccount.id), columns=["id"])
            read = reading.columns(moved.c.id) if reading is not None else []
            query = peewee.Select([moved], [moved.c.id, *read]).with_cte(moved, *also.ctes(moved))
            return query.tuples().bind(db.database)

        statement = _MOVES_ALSO[key] = db.Prepared(build)
    return statement


@functools.cache
def _read_statement(reading: Reading) -> db.Prepared:
    """Where the move's statement cannot read (SQLite): the values of `reading` by themselves."""
    return db.Prepared(lambda: peewee.Select(columns=reading.columns(db.param("id"))).tuples().bind(db.database))


def send_back(account_id: int, expected: str, stages: Iterable[str]) -> bool:
    """Put the account, seen in `expected`, back at the first of `stages` and mark each of them
    to run again. Returns False (and changes nothing) if the account is not `expected` any
    more. Call inside the caller's transaction; send the first stage after commit."""
    stages = tuple(stages)
    first = workflow.stage(stages[0])
    if not move(account_id, expected, first.status):
        return False
    StageRun.update(state=workflow.WAITING, error=None, started_at=None, finished_at=None).where(
        (StageRun.account == account_id) & (StageRun.stage.in_(stages))
    ).execute()
    return True


def send_stage(stage_name: str, account_id: int) -> bool:
    """Send the stage now that the status says it is due; returns whether the broker took it.
    If the broker is unreachable the account is left as it is: the reconciler re-sends the due
    stage of an account that has not moved for a while, so nothing accepted is lost."""
    try:
        broker.send_stage(stage_name, account_id)
        return True
    except Exception as error:  # redis.ConnectionError, TimeoutError...
        log.warning(
            "%s for account %s not enqueued (%s); the reconciler will send it",
            stage_name,
            account_id,
            error,
            extra={"account_id": account_id, "stage": stage_name},
        )
        return False

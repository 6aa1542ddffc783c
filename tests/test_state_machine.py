"""One state machine: every status change goes through shared.account_status, and it refuses
every move the workflow does not allow.

The table test walks every (from, to) pair of statuses against the real database; the source
test reads kamflow's code and fails if anything but shared/account_status.py writes `status`.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from shared import account_status, db, migrations, organisations, workflow
from shared.models import CustomerAccount, StageRun

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("shared", "gateway", "workers", "kamflow")
THE_ONE_MODULE = Path("shared/account_status.py")
#: peewee calls that write rows; `status=` in any of them is a status write.
WRITING_CALLS = {"update", "create", "insert", "insert_many", "get_or_create", "replace", "replace_many", "bulk_update"}

PAIRS = list(itertools.product(workflow.STATUSES, repeat=2))


def allowed(current: str, new: str) -> bool:
    return new == current or new in workflow.TRANSITIONS[current]


@pytest.fixture
def bound(database_url):
    db.bind(database_url)
    migrations.migrate()
    with db.database.connection_context():
        organisation = organisations.create_organisation("acme-energy", "Acme Energy", ["fr-power"])
        kam = organisations.create_staff_user(organisation, "kam@acme-energy.example", "kam", "correct-horse-battery")
        yield organisation, kam


def new_account(organisation, kam, status: str) -> int:
    account = CustomerAccount.create(
        organisation=organisation,
        kam=kam,
        company="Acme",
        last_name="Martin",
        first_name="Claire",
        phone="+33123456789",
        email="c@acme.example",
        is_demo=False,
        app_access=True,
        editor="kam",
    )
    CustomerAccount.update(status=status).where(CustomerAccount.id == account.id).execute()  # the table's start
    StageRun.insert_many([{"account": account.id, "stage": name} for name in workflow.STAGE_NAMES]).execute()
    return account.id


def status_of(account_id: int) -> str:
    return CustomerAccount.get_by_id(account_id).status


def test_every_transition_the_workflow_allows_moves_and_every_other_is_refused(bound):
    organisation, kam = bound
    account_ids = {status: new_account(organisation, kam, status) for status in workflow.STATUSES}
    for current, new in PAIRS:
        account_id = account_ids[current]
        if allowed(current, new):
            assert account_status.move(account_id, current, new), (current, new)
            assert status_of(account_id) == new
            CustomerAccount.update(status=current).where(CustomerAccount.id == account_id).execute()  # reset the row
        else:
            with pytest.raises(workflow.IllegalTransition):
                account_status.move(account_id, current, new)
            assert status_of(account_id) == current, (current, new)
    assert sum(allowed(c, n) for c, n in PAIRS) == len(workflow.STATUSES) + sum(map(len, workflow.TRANSITIONS.values()))


@pytest.mark.parametrize("seen", [s for s in workflow.STATUSES if workflow.TRANSITIONS[s]])
def test_a_move_from_a_status_the_account_has_left_does_nothing(bound, seen):
    """Two writers saw the same status; the first moves it, the second finds it changed."""
    organisation, kam = bound
    account_id = new_account(organisation, kam, seen)
    target = sorted(workflow.TRANSITIONS[seen])[0]
    assert account_status.move(account_id, seen, target)
    assert not account_status.move(account_id, seen, target)
    assert status_of(account_id) == target


def test_a_move_through_a_status_unseen_by_others_checks_both_steps(bound):
    """A stage begun and finished in one transaction passes through its own status."""
    organisation, kam = bound
    account_id = new_account(organisation, kam, workflow.PENDING)
    with pytest.raises(workflow.IllegalTransition):  # validating -> activating skips a stage
        account_status.move(account_id, workflow.PENDING, workflow.ACTIVATING, via=workflow.VALIDATING)
    with pytest.raises(workflow.IllegalTransition):  # pending -> provisioning is not a step
        account_status.move(account_id, workflow.PENDING, workflow.REJECTED, via=workflow.PROVISIONING)
    assert status_of(account_id) == workflow.PENDING
    assert account_status.move(account_id, workflow.PENDING, workflow.PROVISIONING, via=workflow.VALIDATING)
    assert status_of(account_id) == workflow.PROVISIONING


def test_send_back_moves_to_the_first_stage_and_marks_the_stages_to_run_again(bound):
    organisation, kam = bound
    account_id = new_account(organisation, kam, workflow.ACTIVE)
    StageRun.update(state=workflow.DONE).where(StageRun.account == account_id).execute()
    stages = ["provision_access", "activate_markets", "send_credentials"]
    assert account_status.send_back(account_id, workflow.ACTIVE, stages)
    assert status_of(account_id) == workflow.PROVISIONING
    states = {run.stage: run.state for run in StageRun.select().where(StageRun.account == account_id)}
    assert states == {"validate_customer": "done", **{stage: "waiting" for stage in stages}}
    # The account is not active any more: a second send-back from `active` (a double click) does nothing.
    assert not account_status.send_back(account_id, workflow.ACTIVE, ["send_credentials"])
    assert status_of(account_id) == workflow.PROVISIONING
    # A rejected account is final: sending it back is refused before anything is written.
    rejected = new_account(organisation, kam, workflow.REJECTED)
    with pytest.raises(workflow.IllegalTransition):
        account_status.send_back(rejected, workflow.REJECTED, ["validate_customer"])


def _names(node: ast.AST) -> str:
    """The dotted text of an expression like `CustomerAccount` or `self.account` (else "")."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_names(node.value)}.{node.attr}"
    return ""


def _status_writes(tree: ast.AST) -> list[tuple[int, str]]:
    """Where a module writes an account's status: a peewee write on CustomerAccount naming
    `status`, an assignment to `<...account...>.status`, setattr(..., "status"), or a save()
    (which writes every column) in a module that uses CustomerAccount. Other models' `status`
    columns (a fixing's, say) are theirs."""
    uses_accounts = any(isinstance(n, ast.Name) and n.id == "CustomerAccount" for n in ast.walk(tree))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, receiver = node.func.attr, _names(node.func.value)
            if name in WRITING_CALLS and receiver.split(".")[-1] == "CustomerAccount":
                if any(k.arg == "status" for k in node.keywords):
                    found.append((node.lineno, f"{name}(status=...)"))
                for arg in node.args:
                    if isinstance(arg, ast.Dict) and any(
                        isinstance(k, ast.Attribute) and k.attr == "status" for k in arg.keys
                    ):
                        found.append((node.lineno, f"{name}({{...status: ...}})"))
            if name == "save" and uses_accounts:
                found.append((node.lineno, "save() writes every column, the status included"))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr":
            if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and node.args[1].value == "status":
                found.append((node.lineno, "setattr(..., 'status', ...)"))
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(
                isinstance(t, ast.Attribute) and t.attr == "status" and "account" in _names(t.value).lower()
                for t in targets
            ):
                found.append((node.lineno, ".status = ..."))
    return found


def test_nothing_but_shared_account_status_writes_an_accounts_status():
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative == THE_ONE_MODULE:
                continue
            for line, what in _status_writes(ast.parse(path.read_text(), str(path))):
                offenders.append(f"{relative}:{line}: {what}")
    assert offenders == [], "status written outside shared/account_status.py:\n" + "\n".join(offenders)


def test_the_source_check_would_see_each_way_of_writing_a_status():
    """The check above is only as good as what it recognises: each of these must be caught."""
    samples = [
        "CustomerAccount.update(status='active').where(x).execute()",
        "CustomerAccount.update({CustomerAccount.status: 'active'}).execute()",
        "account.status = 'active'",
        "CustomerAccount.get_by_id(1).save()",
        "setattr(account, 'status', 'active')",
        "CustomerAccount.create(company='x', status='active')",
    ]
    for source in samples:
        assert _status_writes(ast.parse(source)), source
    assert _status_writes(ast.parse("Fixing.update(status='cancelled').execute()")) == []  # a fixing's status
    assert _status_writes(ast.parse((ROOT / THE_ONE_MODULE).read_text())), "the one module is seen writing"

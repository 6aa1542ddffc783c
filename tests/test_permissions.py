"""Role × door × organisation: what shared.permissions says, proven at every door.

Two organisations, A and B, each with a manager, a KAM and an operator; a customer of A. An
operator is organisation-scoped (docs/decisions.md "Permissions"): B's operator sees none of
A's accounts. Outside a person's scope an account is answered 404, as if it did not exist."""

from __future__ import annotations

import pytest
from csrf import csrf_token
from prometheus_client.parser import text_string_to_metric_families
from support import PASSWORD, account_request

from shared import access, db, organisations, permissions
from shared.models import CustomerAccount, User

STRONG = "violet-harbour-lantern-42"


@pytest.fixture
def world(app, api, org):
    """A's accounts (one owned by A's KAM, with a customer login) and one of B's."""
    with db.database.connection_context():
        a = org["organisation"]
        b = organisations.create_organisation("rival-power", "Rival Power", ["fr-power"])
        people = {
            "manager A": org["manager"].email,
            "kam A": org["kam"].email,
            "operator A": organisations.create_staff_user(a, "ops@acme-energy.example", "operator", PASSWORD).email,
            "other kam A": organisations.create_staff_user(a, "kam2@acme-energy.example", "kam", PASSWORD).email,
            "manager B": organisations.create_staff_user(b, "boss@rival-power.example", "manager", PASSWORD).email,
            "kam B": organisations.create_staff_user(b, "kam@rival-power.example", "kam", PASSWORD).email,
            "operator B": organisations.create_staff_user(b, "ops@rival-power.example", "operator", PASSWORD).email,
        }
        token_b = organisations.create_api_token(b, "crm")
    account_a = api.create(account_request(**{"setup": {"app_access": False}})).get_json()["id"]
    body_b = account_request(
        **{"kam_email": "kam@rival-power.example", "customer.email": "b@client.example", "setup": {"app_access": False}}
    )
    account_b = api.client.post(
        "/api/v1/customer-accounts", json=body_b, headers={"Authorization": f"Bearer {token_b}"}
    ).get_json()["id"]
    with db.database.connection_context():
        customer = User.create(organisation=org["organisation"], email="claire@client.example", role="customer")
        CustomerAccount.update(user=customer).where(CustomerAccount.id == account_a).execute()
        access.set_password(access.issue_set_password_token(customer.id, 1), STRONG)
    people["customer A"] = "claire@client.example"
    browsers = {
        name: _login(app, email, STRONG if name == "customer A" else PASSWORD) for name, email in people.items()
    }
    return {"browsers": browsers, "a": account_a, "b": account_b}


def _login(app, email, password):
    client = app.test_client()
    page = client.get("/login")
    token = csrf_token(page.text)
    assert client.post("/login", data={"csrf_token": token, "email": email, "password": password}).status_code == 302
    return client


ROLES = ["manager A", "kam A", "other kam A", "operator A", "customer A", "manager B", "kam B", "operator B"]

# door -> the status each person gets; {a} is A's account (owned by "kam A").
MATRIX = {
    "/dashboard": [200, 200, 200, 403, 403, 200, 200, 403],
    "/customers/{a}": [200, 200, 404, 403, 403, 404, 404, 403],
    "/customers/{a}/edit": [200, 200, 404, 403, 403, 404, 404, 403],
    "/ops": [200, 403, 403, 200, 403, 200, 403, 200],
    "/ops/accounts/{a}": [200, 403, 403, 200, 403, 404, 403, 404],
    "/metrics": [200, 401, 401, 200, 401, 200, 401, 200],
    "/api/docs": [200, 200, 200, 200, 401, 200, 200, 200],
    "/my-account": [403, 403, 403, 403, 200, 403, 403, 403],
}


@pytest.mark.parametrize("door", MATRIX)
def test_each_role_of_each_organisation_gets_what_the_permissions_say(world, door):
    path = door.format(a=world["a"])
    got = [world["browsers"][who].get(path).status_code for who in ROLES]
    assert dict(zip(ROLES, got, strict=True)) == dict(zip(ROLES, MATRIX[door], strict=True))


def test_the_matrix_agrees_with_the_permissions_table():
    role_of = {who: who.split()[-2] if who.startswith("other") else who.split()[0] for who in ROLES}
    for door, allowed in (
        ("/dashboard", permissions.KAM_PAGES),
        ("/ops", permissions.OPS),
        ("/my-account", permissions.CUSTOMER_PAGES),
    ):
        expected = [200 if permissions.may(role_of[who], allowed) else 403 for who in ROLES]
        assert MATRIX[door] == expected


def _csrf(client, page):
    return csrf_token(client.get(page).text)


def test_an_operator_of_another_organisation_cannot_retry_or_see_its_accounts(world):
    outsider, insider = world["browsers"]["operator B"], world["browsers"]["operator A"]
    retry = outsider.post(f"/ops/accounts/{world['a']}/retry", data={"csrf_token": _csrf(outsider, "/ops")})
    assert retry.status_code == 404
    seen_by_b = outsider.get("/ops/snapshot.json").get_json()
    seen_by_a = insider.get("/ops/snapshot.json").get_json()
    assert sum(seen_by_b["accounts_by_status"].values()) == 1  # B's one account, not A's
    assert sum(seen_by_a["accounts_by_status"].values()) == 1


def _accepted(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "kamflow_accounts_accepted_total":
                return sample.value
    raise AssertionError("no kamflow_accounts_accepted in the scrape")


def test_a_managers_metrics_count_their_organisation_only_prometheus_counts_all(app, world):
    app.config["METRICS_TOKEN"] = "prom-token"
    assert _accepted(world["browsers"]["manager A"].get("/metrics").text) == 1
    assert _accepted(world["browsers"]["operator B"].get("/metrics").text) == 1
    everything = app.test_client().get("/metrics", headers={"Authorization": "Bearer prom-token"})
    assert _accepted(everything.text) == 2


def test_kam_email_names_only_an_account_owner_of_the_tokens_organisation(api, world):
    for email in ("ops@acme-energy.example", "claire@client.example", "kam@rival-power.example"):
        answer = api.create(account_request(**{"kam_email": email, "customer.email": "x@client.example"}))
        assert answer.status_code == 422 and "kam_email" in answer.get_json()["errors"]["json"]


def test_dead_letters_are_seen_and_handled_only_by_the_operator_of_their_organisation(world, redis_client):
    import time as clock

    import dramatiq

    from shared import queues

    message = dramatiq.Message(
        queue_name="send_credentials",
        actor_name="send_credentials",
        args=(world["a"],),
        kwargs={},
        options={"retries": 5},
    )
    redis_client.zadd(queues.dead_key("send_credentials"), {"dead-a": int(clock.time() * 1000)})
    redis_client.hset(queues.dead_messages_key("send_credentials"), "dead-a", message.encode())
    insider, outsider = world["browsers"]["operator A"], world["browsers"]["operator B"]
    assert [d["account_id"] for d in insider.get("/ops/snapshot.json").get_json()["dead_letters"]] == [world["a"]]
    assert outsider.get("/ops/snapshot.json").get_json()["dead_letters"] == []
    refused = outsider.post(
        "/ops/dead-letters/send_credentials/dead-a/discard", data={"csrf_token": _csrf(outsider, "/ops")}
    )
    assert refused.status_code == 404
    assert redis_client.hexists(queues.dead_messages_key("send_credentials"), "dead-a")
    done = insider.post(
        "/ops/dead-letters/send_credentials/dead-a/discard", data={"csrf_token": _csrf(insider, "/ops")}
    )
    assert done.status_code == 303 and not redis_client.hexists(queues.dead_messages_key("send_credentials"), "dead-a")


def test_the_daily_maintenance_on_ops_counts_only_the_viewers_organisation(world):
    """/ops showed each run's totals over every organisation: a manager read how many market
    windows and trials their rivals' customers had closed and ended that day."""
    import datetime as dt

    from shared import maintenance
    from shared.models import MarketAccess

    today = dt.date.today()
    closed_of_b = 1
    with db.database.connection_context():
        MarketAccess.create(  # B's window on French power ended yesterday
            account=world["b"],
            market="fr-power",
            start_date=today - dt.timedelta(days=60),
            end_date=today - dt.timedelta(days=1),
            forecasts=[],
            max_optimisations=1,
            activated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )
        assert maintenance.run_daily(dt.date.today(), trial_days=30).summary["windows_closed"] == closed_of_b
    for who, closed in (("manager A", 0), ("operator A", 0), ("manager B", closed_of_b), ("operator B", closed_of_b)):
        (run,) = world["browsers"][who].get("/ops/snapshot.json").get_json()["maintenance"]
        assert run["summary"] == {"windows_closed": closed, "trials_ended": 0}, who
    page = world["browsers"]["manager A"].get("/ops").text
    assert "maintenance-runs" in page

"""The workers' scheduled jobs: fixing-advice notices one working day ahead (once per advice,
through a real SMTP server), the daily maintenance (closes expired access windows, ends demo
trials; idempotent), and converting a demo into a real account. The scheduler thread itself:
test_scheduler_thread.py."""

from __future__ import annotations

import datetime as dt

from browser import Browser, text_of

from optimisations.support import move_window, optimisation_body
from shared import db, maintenance
from shared.models import CustomerAccount, MarketAccess, User
from shared.optimisations import editing, limits, notifications
from shared.optimisations.schemas import OptimisationSchema

TODAY = dt.date.today()
WEEKDAY = TODAY if TODAY.weekday() < 5 else TODAY + dt.timedelta(days=7 - TODAY.weekday())


def test_working_days_ahead():
    thursday, friday = dt.date(2026, 11, 26), dt.date(2026, 11, 27)
    assert notifications.due_dates(thursday) == (friday,)
    assert notifications.due_dates(friday)[-1] == dt.date(2026, 11, 30)  # Monday, over the weekend
    assert notifications.due_dates(dt.date(2026, 11, 28)) == ()  # nothing announced on a Saturday


def test_an_advice_is_emailed_one_working_day_ahead_once(make_account, settings, mailbox):
    account_id = make_account(**{"setup.editor": "kam"})
    mailbox.wait_for(1)  # the credentials email
    mailbox.clear()
    move_window(account_id, "fr-power", -5, 300)
    advice_day = notifications.next_working_day(WEEKDAY)
    with db.database.connection_context():
        account = CustomerAccount.get_by_id(account_id)
        data = OptimisationSchema().load(
            optimisation_body(
                name="Foundry",
                max_fixings=1,
                notify_recipients=["kam", "customer"],
                window_start=advice_day.isoformat(),
                window_end=advice_day.isoformat(),
            )
        )
        editing.create(account, data, limits.KAM, "kam", TODAY)
        # two days ahead: too early; the working day before: both recipients, once
        assert notifications.send_due(settings, advice_day - dt.timedelta(days=2)) == 0
        assert notifications.send_due(settings, WEEKDAY) == 2
        assert notifications.send_due(settings, WEEKDAY) == 0  # once per advice
    messages = mailbox.wait_for(2)
    assert sorted(m["To"] for m in messages) == ["claire.martin@foundry.example", "kam@acme-energy.example"]
    body = messages[0].get_body(("plain",)).get_content()
    assert "fix 100.00 % of the volume (1200.000 MWh)" in body and "Foundry" in messages[0]["Subject"]
    assert any("/my-account/optimisations/" in m.get_body(("plain",)).get_content() for m in messages)


def test_after_the_end_date_no_advice_reaches_the_customer(make_account, settings, mailbox):
    account_id = make_account(**{"setup.editor": "kam"})
    mailbox.wait_for(1)
    mailbox.clear()
    move_window(account_id, "fr-power", -5, 300)
    advice_day = notifications.next_working_day(WEEKDAY)
    with db.database.connection_context():
        data = OptimisationSchema().load(
            optimisation_body(
                max_fixings=1,
                notify_recipients=["kam", "customer"],
                window_start=advice_day.isoformat(),
                window_end=advice_day.isoformat(),
            )
        )
        editing.create(CustomerAccount.get_by_id(account_id), data, limits.KAM, "kam", TODAY)
    move_window(account_id, "fr-power", -300, (WEEKDAY - TODAY).days - 1)  # ended before WEEKDAY
    with db.database.connection_context():
        assert notifications.send_due(settings, WEEKDAY) == 1
    (message,) = mailbox.wait_for(1)
    assert message["To"] == "kam@acme-energy.example"


def test_daily_maintenance_closes_windows_ends_trials_once_and_conversion_undoes_the_trial(make_account, api, app):
    demo = make_account(**{"customer.is_demo": True})
    real = make_account(**{"customer.email": "real@foundry.example", "customer.customer_reference": "FR-2"})
    move_window(demo, "fr-power", -60, -3)
    move_window(demo, "de-gas", -60, -2)  # the demo's trial (its latest end date) was over 2 days ago
    move_window(real, "de-gas", -60, -1)
    with db.database.connection_context():
        run = maintenance.run_daily(TODAY, trial_days=30)
        assert run.summary == {"windows_closed": 3, "trials_ended": 1}
        assert maintenance.run_daily(TODAY, trial_days=30) is None  # the day's run happened
        again = maintenance.close_expired_windows(TODAY)
        assert again == 0
        demo_account = CustomerAccount.get_by_id(demo)
        assert demo_account.trial_ended_at is not None
        assert User.get_by_id(demo_account.user_id).active is False  # the trial is over: no login
        assert CustomerAccount.get_by_id(real).trial_ended_at is None
        assert MarketAccess.get((MarketAccess.account == real) & (MarketAccess.market == "de-gas")).closed_at
        assert MarketAccess.get((MarketAccess.account == real) & (MarketAccess.market == "fr-power")).closed_at is None
    page = Browser(app.test_client()).login("kam@acme-energy.example")
    assert "the trial ended on" in text_of(page.get(f"/customers/{demo}").text)
    converted = api.client.patch(
        f"/api/v1/customer-accounts/{demo}", json={"customer": {"is_demo": False}}, headers=api.headers
    )
    assert converted.status_code == 200, converted.get_json()
    assert converted.get_json()["customer"]["is_demo"] is False
    with db.database.connection_context():
        account = CustomerAccount.get_by_id(demo)
        assert account.trial_ended_at is None and User.get_by_id(account.user_id).active is True
        assert account.markets.count() == 2  # everything kept
    assert "Demo" not in text_of(page.get(f"/customers/{demo}").text).split("Set-up")[0]

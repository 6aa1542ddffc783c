"""The `kamflow` command as an operator uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support import Api, account_request

from shared.config import Settings


def test_setting_up_an_organisation_from_the_command_line_gives_a_working_api_token(kamflow, client):
    assert kamflow("migrate").exit_code == 0
    made = kamflow("create-org", "--slug", "volt", "--name", "Volt Supply", "--markets", "fr-power,de-gas")
    assert made.exit_code == 0 and "volt created" in made.output
    user = kamflow(
        "create-user", "--org", "volt", "--email", "kam@volt.example", "--role", "kam", "--password", "long-enough-pw"
    )
    assert user.exit_code == 0, user.output
    token = kamflow("create-api-token", "--org", "volt", "--name", "crm").output.strip()
    assert token.startswith("kf_") and len(token) > 40

    api = Api(client, token)
    body = account_request(**{"kam_email": "kam@volt.example", "setup": {"app_access": False}})
    assert api.create(body).status_code == 202
    assert api.get("/api/v1/customer-accounts").get_json()["total"] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("create-org", "--slug", "x", "--name", "X", "--markets", "fr-power,mars-power"),
            "unknown market(s): mars-power",
        ),
        (
            (
                "create-user",
                "--org",
                "nowhere",
                "--email",
                "a@b.example",
                "--role",
                "kam",
                "--password",
                "long-enough-pw",
            ),
            "no organisation with slug 'nowhere'",
        ),
        (("create-api-token", "--org", "nowhere", "--name", "crm"), "no organisation with slug 'nowhere'"),
        (("retry", "999"), "no customer account 999"),
    ],
)
def test_mistakes_are_explained_and_exit_non_zero(kamflow, args, message):
    result = kamflow(*args)
    assert result.exit_code == 1
    assert message in result.output


def test_short_password_is_refused(kamflow):
    kamflow("create-org", "--slug", "volt", "--name", "Volt", "--markets", "fr-power")
    result = kamflow(
        "create-user", "--org", "volt", "--email", "k@volt.example", "--role", "kam", "--password", "short"
    )
    assert result.exit_code == 1 and "at least 12 characters" in result.output


def test_status_shows_accounts_by_status_and_queue_depths(kamflow, api, worker):
    account_id = api.create(account_request(**{"setup": {"app_access": False}})).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    output = kamflow("status").output
    assert "active" in output and "validate_customer" in output
    active_line = next(line for line in output.splitlines() if line.strip().startswith("active"))
    assert active_line.split()[-1] == "1"


def test_retry_puts_a_failed_account_through_from_its_failed_stage(kamflow, api, worker, mailbox):
    mailbox.refuse_next(3)
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "failed"
    result = kamflow("retry", str(account_id))
    assert result.exit_code == 0 and "send_credentials sent again" in result.output
    assert api.wait_for_status(account_id)["status"] == "active"
    assert kamflow("retry", str(account_id)).exit_code == 1  # active now: nothing to retry


def test_tokens_can_be_listed_and_revoked_and_a_revoked_token_is_refused_at_once(kamflow, client):
    kamflow("create-org", "--slug", "volt", "--name", "Volt", "--markets", "fr-power")
    token = kamflow("create-api-token", "--org", "volt", "--name", "crm").output.strip()
    api = Api(client, token)
    assert api.get("/api/v1/markets").status_code == 200
    listing = kamflow("list-api-tokens", "--org", "volt").output
    assert "crm" in listing and token[:8] in listing and token not in listing
    assert kamflow("revoke-api-token", "--org", "volt", "--name", "crm").exit_code == 0
    assert api.get("/api/v1/markets").status_code == 401
    assert kamflow("revoke-api-token", "--org", "volt", "--name", "crm").exit_code == 1  # nothing left to revoke
    revoked_line = next(
        line for line in kamflow("list-api-tokens", "--org", "volt").output.splitlines() if "crm" in line
    )
    assert not revoked_line.rstrip().endswith("-")  # shows when it was revoked


def test_set_webhook_prints_the_secret_once(kamflow):
    kamflow("create-org", "--slug", "volt", "--name", "Volt", "--markets", "fr-power")
    result = kamflow("set-webhook", "--org", "volt", "--url", "https://crm.volt.example/hooks")
    assert result.exit_code == 0 and result.output.startswith("whsec_")
    bad = kamflow("set-webhook", "--org", "volt", "--url", "crm.volt.example")
    assert bad.exit_code == 1 and "http" in bad.output


def test_an_invalid_email_is_refused_for_a_user(kamflow):
    kamflow("create-org", "--slug", "volt", "--name", "Volt", "--markets", "fr-power")
    result = kamflow(
        "create-user", "--org", "volt", "--email", "a b@@", "--role", "kam", "--password", "long-enough-pw"
    )
    assert result.exit_code == 1 and "Not a valid email address" in result.output


def test_a_command_run_where_there_is_no_database_says_so_and_creates_nothing(kamflow, monkeypatch, tmp_path):
    missing = tmp_path / "elsewhere" / "kamflow.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{missing}")
    result = kamflow("status")
    assert result.exit_code == 1 and "run `kamflow migrate`" in result.output
    assert not missing.exists()
    assert kamflow("migrate").exit_code == 0 and missing.exists()
    assert kamflow("status").exit_code == 0


def test_list_orgs_shows_each_slug_with_its_markets_and_people(kamflow, org):
    listed = kamflow("list-orgs")
    assert listed.exit_code == 0
    (line,) = [line for line in listed.output.splitlines() if line.startswith("acme-energy")]
    assert "Acme Energy" in line and "fr-power,fr-gas,de-power,de-gas,be-power,nl-gas" in line
    assert line.split()[3:5] == ["2", "0"]  # a KAM and a manager; no customer account yet


def test_a_record_left_by_a_killed_run_is_ignored(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = tmp_path / "run.json"
    record.write_text(json.dumps({"pid": int(finished.stdout), "settings": {"REDIS_URL": "redis://127.0.0.1:1/0"}}))
    assert Settings.from_env_or_run({}, record).redis_url == ""
    record.write_text(json.dumps({"pid": os.getpid(), "settings": {"REDIS_URL": "redis://127.0.0.1:1/0"}}))
    assert Settings.from_env_or_run({}, record).redis_url == "redis://127.0.0.1:1/0"
    assert (
        Settings.from_env_or_run({"REDIS_URL": "redis://elsewhere:6379/0"}, record).redis_url
        == "redis://elsewhere:6379/0"
    )


LANTERN = "Lantern-Quarry-98!"


@pytest.mark.parametrize(
    "args, message",
    [
        (("create-org", "--slug", "Volt Supply", "--name", "Volt", "--markets", "fr-power"), "slug 'Volt Supply': use"),
        (("create-org", "--slug", ",,", "--name", "Volt", "--markets", "fr-power"), "slug ',,': use"),
        (("create-org", "--slug", "volt", "--name", "  ", "--markets", "fr-power"), "name: Required: must not be"),
        (("create-org", "--slug", "volt", "--name", "V" * 201, "--markets", "fr-power"), "name: Must be at most 200"),
        (("create-org", "--slug", "volt", "--name", "Volt\x1b[2J", "--markets", "fr-power"), "(found U+001B)"),
        (("create-org", "--slug", "volt", "--name", "Volt", "--markets", ","), "no market: name at least one of"),
        (("create-api-token", "--org", "acme-energy", "--name", " "), "token name: Required: must not be blank"),
        (("create-api-token", "--org", "acme-energy", "--name", "c" * 101), "token name: Must be at most 100"),
        (
            ("create-user", "--org", "acme-energy", "--email", "n@acme-energy.example", "--role", "kam")
            + ("--first-name", "N" * 101, "--password", LANTERN),
            "first name: Must be at most 100 characters",
        ),
    ],
)
def test_a_name_the_database_cannot_hold_is_refused_and_nothing_is_written(kamflow, org, args, message):
    """A slug must be typed again as --org, a token name to revoke it: a blank or unprintable
    one left a row nobody could name, and a too long one was a database error on PostgreSQL."""
    before = kamflow("list-orgs").output, kamflow("list-api-tokens", "--org", "acme-energy").output
    result = kamflow(*args)
    assert result.exit_code == 1 and message in result.output
    assert (kamflow("list-orgs").output, kamflow("list-api-tokens", "--org", "acme-energy").output) == before
    assert kamflow("login-events").exit_code == 0  # the database is as usable as before


@pytest.mark.parametrize(
    "args, option",
    [
        (("retry", "99999999999999999999"), "[ACCOUNT_IDS]"),
        (("retry", "0"), "[ACCOUNT_IDS]"),
        (("webhook-deliveries", "--org", "acme-energy", "--limit", "-5"), "--limit"),
        (("webhook-deliveries", "--org", "acme-energy", "--limit", "99999999999999999999"), "--limit"),
        (("login-events", "--limit", "0"), "--limit"),
        (("run", "--port", "99999"), "--port"),
        (("run", "--threads", "0"), "--threads"),
    ],
)
def test_a_number_out_of_range_is_refused_naming_the_option(kamflow, org, args, option):
    """Before: a number beyond a database integer was an OverflowError traceback, and a
    --limit of 0 or less listed nothing (or, on SQLite, everything) as if all were well."""
    result = kamflow(*args)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}" in result.output and "is not in the range" in result.output


def test_retry_all_failed_with_none_failed_says_so_and_succeeds(kamflow, api, worker):
    account_id = api.create(account_request(**{"setup": {"app_access": False}})).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    result = kamflow("retry", "--all-failed")
    assert result.exit_code == 0 and "no failed account: nothing to retry" in result.output
    assert kamflow("retry").exit_code == 1  # nothing named and no --all-failed: a mistake


def test_an_account_named_twice_is_retried_once(kamflow, api, worker, mailbox):
    mailbox.refuse_next(3)
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "failed"
    result = kamflow("retry", str(account_id), str(account_id))
    assert result.exit_code == 0, result.output
    assert result.output.count("send_credentials sent again") == 1 and "error" not in result.output
    assert api.wait_for_status(account_id)["status"] == "active"


@pytest.mark.parametrize("command", ["migrate", "status", "list-orgs"])
def test_a_database_that_cannot_be_reached_is_named_in_one_line(kamflow, monkeypatch, tmp_path, command):
    """Before: the driver's traceback (peewee.OperationalError ... Connection refused)."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://kamflow:s3cret@127.0.0.1:1/kamflow")
    result = kamflow(command)
    assert result.exit_code == 1
    assert "cannot reach the database at postgresql://kamflow:[redacted]@127.0.0.1:1/kamflow: " in result.output
    assert "Connection refused" in result.output or "connection" in result.output.lower()
    assert "s3cret" not in result.output


def test_unlock_login_with_redis_unreachable_says_so(kamflow, monkeypatch):
    """Before: a redis ConnectionError traceback (login-locks already said it in one line)."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    result = kamflow("unlock-login", "kam@acme-energy.example")
    assert result.exit_code == 1 and "Redis unreachable, nothing unlocked: " in result.output

"""Settings as an operator writes them: every one the README lists is read with its documented
default, and a value kamflow cannot run with stops the process at start-up with one line naming
the variable and the reason, never a traceback nor a stage failing later on the first email."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import Settings, SettingsError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "name, value, reason",
    [
        ("MAX_RETRIES", "abc", "MAX_RETRIES='abc': not a whole number"),
        ("MAX_RETRIES", "-1", "MAX_RETRIES=-1: must be 0 or more"),
        ("SESSION_IDLE_MINUTES", "0", "SESSION_IDLE_MINUTES=0: must be more than 0"),
        ("RECONCILE_INTERVAL_S", "nan", "RECONCILE_INTERVAL_S='nan': not a finite number"),
        ("WEBHOOK_TIMEOUT_S", "ten", "WEBHOOK_TIMEOUT_S='ten': not a number"),
        ("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "maybe", "WEBHOOK_ALLOW_PRIVATE_NETWORKS='maybe': not a yes/no value"),
        ("LOG_LEVEL", "VERBOSE", "LOG_LEVEL='VERBOSE': use DEBUG, INFO, WARNING, ERROR or CRITICAL"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT='xml': use text or json"),
        ("API_RATE_LIMIT", "lots", "API_RATE_LIMIT='lots': write it as \"600 per minute\""),
        ("API_UNAUTHENTICATED_RATE_LIMIT", "60/fortnight", "API_UNAUTHENTICATED_RATE_LIMIT='60/fortnight'"),
        ("DATABASE_URL", "mysql://db/kamflow", "DATABASE_URL: the scheme mysql: is not one of sqlite:"),
        ("DATABASE_URL", "sqlite://kamflow.db", "DATABASE_URL: write sqlite:///path/to/kamflow.db (three slashes"),
        ("REDIS_URL", "redis://broker:sixty", "REDIS_URL: its port is not a number"),
        ("SMTP_URL", "mail.example.com:25", "SMTP_URL: the scheme mail.example.com: is not one of smtp:"),
        ("BASE_URL", "kamflow.example.com", "BASE_URL: the scheme (none) is not one of http:, https:"),
    ],
)
def test_a_wrong_setting_is_named_with_its_reason(name, value, reason):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({name: value})
    assert reason in str(refused.value)


def test_a_password_in_a_wrong_url_is_not_repeated():
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"SMTP_URL": "smtp://user:s3cret-pw@relay:bad"})
    assert "SMTP_URL" in str(refused.value) and "s3cret-pw" not in str(refused.value)


def test_every_wrong_setting_is_named_at_once():
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"MAX_RETRIES": "x", "LOG_LEVEL": "LOUD", "TRIAL_DAYS": "-3"})
    message = str(refused.value)
    assert "MAX_RETRIES" in message and "LOG_LEVEL" in message


def test_the_documented_values_are_accepted_in_any_case():
    settings = Settings.from_env(
        {
            "LOG_LEVEL": "debug",
            "LOG_FORMAT": "JSON",
            "MAX_RETRIES": "0",
            "API_RATE_LIMIT": "10 per second; 600 per minute",
            "DATABASE_URL": "postgresql://kamflow@db:5432/kamflow?sslmode=verify-full",
            "REDIS_URL": "rediss://:pw@redis.example.net:6380/0",
            "SMTP_URL": "smtp+starttls://user:pass@relay:587",
            "BASE_URL": "https://kamflow.example.com",
        }
    )
    assert (settings.log_level, settings.log_format, settings.max_retries) == ("debug", "JSON", 0)


def test_every_setting_of_the_readme_is_read_with_its_documented_default():
    """The settings table of README.md, row by row: its names are Settings' fields (besides the
    two `make run` and the tests read), and a plain number default is the field's default."""
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Settings", 1)[1].split("\n\n`docker-compose.yml`", 1)[0]
    defaults = Settings()
    fields = {name.upper() for name in defaults.__dataclass_fields__}
    for row in table.splitlines():
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        names = re.findall(r"`([A-Z_]+)`", cells[0]) if len(cells) == 3 else []
        numbers = re.findall(r"^[\d, ]+$", cells[1]) if names else []
        for name in names:
            assert name in fields or name in ("PORT", "TEST_POSTGRES_URL"), name
        if numbers:
            written = [float(v) for v in cells[1].split(",")]
            assert [float(getattr(defaults, n.lower())) for n in names] == written, names
    assert fields <= set(re.findall(r"`([A-Z_]+)`", table))


def test_every_setting_is_in_env_example_and_a_commented_one_shows_its_default():
    """.env.example "lists the settings" (README, Deploying): each one, set or commented out;
    a commented one with the value the code takes without it."""
    example = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z_]+)=", example, re.M))
    assert {name.upper() for name in Settings.__dataclass_fields__} <= listed
    defaults = Settings()
    for name, value in re.findall(r"^# ([A-Z_]+)=(.*)$", example, re.M):
        if name.lower() in Settings.__dataclass_fields__:
            assert Settings.from_env({name: value}) == defaults, name


def _environment(tmp_path, **settings) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in Settings.__dataclass_fields__}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'kamflow.db'}", SECRET_KEY="x" * 32, PYTHONPATH=str(REPO), **settings
    )
    return env


def _kamflow_bin() -> str:
    return str(Path(sys.executable).with_name("kamflow"))


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--no-control-socket", "gateway.wsgi:app"],
        [sys.executable, "-m", "dramatiq", "workers.main", "--processes", "1", "--threads", "1"],
        [_kamflow_bin(), "migrate"],
        [sys.executable, "-m", "workers.health"],
    ],
    ids=["gateway", "workers", "kamflow-command", "worker-health"],
)
def test_a_process_started_with_a_wrong_setting_stops_saying_which(tmp_path, command):
    stderr = _refused_start(command, _environment(tmp_path, LOG_LEVEL="LOUD", MAX_RETRIES="five"), REPO)
    assert "LOG_LEVEL='LOUD'" in stderr and "MAX_RETRIES='five': not a whole number" in stderr
    assert not (tmp_path / "kamflow.db").exists()  # nothing was made with settings it refused


def test_kamflow_run_with_a_wrong_setting_starts_nothing(tmp_path):
    env = _environment(tmp_path, KAMFLOW_VAR_DIR=str(tmp_path / "var"), SESSION_MAX_HOURS="twelve")
    assert "SESSION_MAX_HOURS='twelve': not a whole number" in _refused_start([_kamflow_bin(), "run"], env, tmp_path)
    assert not (tmp_path / "var" / "redis").exists()  # no embedded Redis was left behind


def _refused_start(command: list[str], env: dict, cwd: Path) -> str:
    """What `command` wrote on stderr, having checked it stopped with a non-zero status and
    without a traceback."""
    process = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert process.returncode != 0
    assert "Traceback" not in process.stderr, process.stderr
    return process.stderr

"""Forecast uploads: CSV validated with errors by line, every upload kept with its date, the
newest in use; the manager's upload is what makes the 'manager forecast' option available; the
operator loads the application curve with `kamflow load-forecast`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from support import account_request

from shared import db
from shared.models import ForecastUpload
from shared.optimisations import forecasts


@pytest.mark.parametrize(
    "content, expected",
    [
        ("month,price\n2027-13,80\n", "Line 2: month '2027-13'"),
        ("2027-1,80\n", "Line 1: month '2027-1'"),
        ("2027-01-01,80\n", "Line 1: month"),
        ("01/2027,80\n", "Line 1: month"),
        ("2027-01,80\n2027-01,81\n", "Line 2: month 2027-01 appears twice"),
        ("9999-12,80\n", "Line 1: month '9999-12' is not a month as YYYY-MM from 2000-01 to 2099-12"),
        ("\uff12\uff10\uff12\uff17-01,80\n", "Line 1: month"),  # full-width digits, as a delivery month refuses
        ("1999-12,80\n", "Line 1: month '1999-12'"),
        ("2027-01,-3\n", "Line 1: price '-3'"),
        ("2027-01,0\n", "Line 1: price '0'"),
        ("2027-01,NaN\n", "Line 1: price 'NaN'"),
        ("2027-01,Infinity\n", "Line 1: price"),
        ("2027-01,84,50\n", "Line 1: expected 2 values"),
        ("2027-01;84.50\n", "Line 1: expected 2 values"),
        ("2027-01,1e9\n", "Line 1: price '1e9'"),
        # Python's Decimal read these as 80: refused, saying how to write a price
        ("2027-01,\uff18\uff10\n", "digits with a dot for decimals"),  # full-width digits
        ("2027-01,\u0668\u0660\n", "Line 1: price"),  # Arabic-Indic digits
        ("2027-01,8_0\n", "Line 1: price '8_0'"),
        ("2027-01,8e1\n", "Line 1: price '8e1'"),
        ("2027-01,=80\n", "Line 1: price '=80'"),  # a spreadsheet formula
        ("2027-01,84.123456\n", "more than 4 decimals"),
        ("month,price\n", "no forecast rows"),
        ("", "no forecast rows"),
        (b"\xff\xfe2\x00", "not UTF-8"),
        ("2027-01,80\n" * 1 + "x" * (70 * 1024), "larger than 64 kB"),
    ],
)
def test_a_bad_file_is_refused_with_the_line_and_the_reason(content, expected):
    with pytest.raises(forecasts.ForecastRejected) as rejected:
        forecasts.parse_csv(content)
    assert any(expected in error for error in rejected.value.errors), rejected.value.errors


def test_every_bad_line_is_reported_not_only_the_first():
    with pytest.raises(forecasts.ForecastRejected) as rejected:
        forecasts.parse_csv("month,price\n2027-01,80\n2027-02,x\n2027-14,70\n2027-04,71\n")
    assert [e.split(":")[0] for e in rejected.value.errors] == ["Line 3", "Line 4"]


def test_a_good_file_with_header_bom_and_blank_lines():
    curve = forecasts.parse_csv("\ufeffMonth,Price\n2027-02, 81.5\n\n2027-01,80\n".encode())
    assert curve == {dt.date(2027, 1, 1): Decimal("80"), dt.date(2027, 2, 1): Decimal("81.5")}


def test_uploads_are_kept_with_their_date_and_the_newest_is_used(org):
    organisation = org["organisation"]
    with db.database.connection_context():
        first = forecasts.latest_upload("manager", "fr-power", organisation_id=organisation.id)
        second = forecasts.upload_csv(
            "manager", "fr-power", "2027-01,99\n", "boss@acme-energy.example", organisation_id=organisation.id
        )
        history = forecasts.uploads("manager", organisation_id=organisation.id, market="fr-power")
        assert [u.id for u in history] == [second.id, first.id]
        assert all(u.uploaded_at for u in history)
        in_use = forecasts.latest_upload("manager", "fr-power", organisation_id=organisation.id)
        assert forecasts.curve_of(in_use) == {dt.date(2027, 1, 1): Decimal("99")}
        # an upload that fails writes nothing
        with pytest.raises(forecasts.ForecastRejected):
            forecasts.upload_csv("manager", "fr-power", "2027-01,oops\n", "boss", organisation_id=organisation.id)
        assert ForecastUpload.select().where(ForecastUpload.kind == "manager").count() == 2


def test_the_manager_option_becomes_available_by_uploading(api, org, worker):
    """No forecast for de-gas: the option is refused, the catalogue says so; once the manager
    uploads one, the same request is accepted."""
    body = account_request(**{"setup.markets.1.forecasts": ["application", "manager"]})
    markets = {m["id"]: m for m in api.get("/api/v1/markets").get_json()["items"]}
    assert markets["de-gas"]["manager_forecast"] is False
    rejected = api.wait_for_status(api.create(body).get_json()["id"])
    assert rejected["status"] == "rejected"
    assert "setup.markets.de-gas.forecasts" in rejected["rejection_reasons"]
    with db.database.connection_context():
        forecasts.upload_csv(
            "manager",
            "de-gas",
            "2027-01,38.2\n2027-02,37.9\n",
            org["manager"].email,
            organisation_id=org["organisation"].id,
        )
    markets = {m["id"]: m for m in api.get("/api/v1/markets").get_json()["items"]}
    assert markets["de-gas"]["manager_forecast"] is True
    accepted = api.wait_for_status(api.create(body).get_json()["id"])
    assert accepted["status"] == "active", accepted


def test_the_operator_loads_the_application_curve_from_a_file(kamflow, tmp_path):
    good = tmp_path / "fr-power.csv"
    good.write_text("month,price\n2027-01,84.5\n2027-02,83\n")
    result = kamflow("load-forecast", "--market", "fr-power", str(good))
    assert result.exit_code == 0 and "2 months loaded" in result.output
    with db.database.connection_context():
        curve = forecasts.curve_of(forecasts.latest_upload("application", "fr-power"))
    assert curve[dt.date(2027, 2, 1)] == Decimal("83")
    bad = tmp_path / "bad.csv"
    bad.write_text("2027-01,84.5\n2027-02,eighty\n")
    result = kamflow("load-forecast", "--market", "fr-power", str(bad))
    assert result.exit_code == 1 and "Line 2: price 'eighty'" in result.output
    unknown = kamflow("load-forecast", "--market", "mars-power", str(good))
    assert unknown.exit_code == 1 and "Unknown market" in unknown.output

"""The Dashboard: the section 'Monitoring of activities' and its 'Add an account' button."""

from __future__ import annotations

from flask import Blueprint, render_template

from gateway.web.auth import current_staff, staff_required
from shared import dashboard as activity

dashboard = Blueprint("dashboard", __name__)


@dashboard.route("/dashboard")
@staff_required
def show():
    staff = current_staff()
    demos, ending = activity.ending_soon(staff)
    return render_template(
        "dashboard.html",
        counts=activity.counts(staff),
        recent=activity.recent(staff),
        demos=demos,
        ending=ending,
        days=activity.ENDING_SOON_DAYS,
    )

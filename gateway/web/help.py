"""Short in-app help pages the article points to ("> Check Demo and free trial for potential
customer"), so a KAM in the middle of the wizard can read them without leaving kamflow."""

from __future__ import annotations

from flask import Blueprint, render_template

from gateway.web.auth import staff_required
from shared import dashboard as activity

help_pages = Blueprint("help", __name__, url_prefix="/help")


@help_pages.get("/demo-and-trial")
@staff_required
def demo_and_trial():
    return render_template("help_demo_and_trial.html", days=activity.ENDING_SOON_DAYS)

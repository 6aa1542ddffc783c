"""Dramatiq workers: one module per stage, plus the middleware that records give-ups and runs
the reconciler.

Start them with `dramatiq workers.main` (that module boots from the environment); tests call
`boot(settings)` (no Prometheus exporter: no process boot) with their own settings and run a `dramatiq.Worker` on the returned broker.
"""

from __future__ import annotations

from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries

from shared import broker as broker_setup
from shared import db
from shared.config import Settings


def boot(settings: Settings, *, exporter: bool = False) -> RedisBroker:
    """Bind the database, make the broker and declare every stage actor on it. `exporter`: add
    the Prometheus exporter and the final-status counter, for a process the `dramatiq` CLI boots
    (workers.main); an in-process `dramatiq.Worker` never boots one, so it goes without."""
    from workers import activate_markets, deliver_webhook, provision_access, send_credentials, validate_customer
    from workers.failures import RecordGiveUps
    from workers.reconciler import Reconciler
    from workers.scheduler import Scheduler
    from workers.stage_actor import CloseDatabaseConnection, declare_stage

    db.bind(settings.database_url)
    broker = broker_setup.setup(settings)
    # "after" hooks run in reverse list order: placed before Retries, it sees Retries' verdict.
    broker.add_middleware(RecordGiveUps(), before=Retries)
    broker.add_middleware(Reconciler(settings))
    broker.add_middleware(Scheduler(settings))  # daily maintenance, fixing-advice notices
    from shared.logging_setup import StageLogContext
    from workers.health import WorkerRegistry
    from workers.mail_connections import CloseMailConnections
    from workers.metrics import add_metrics

    broker.add_middleware(StageLogContext(), before=type(broker.middleware[0]))  # every log line: account, stage
    if exporter:
        add_metrics(broker)  # Prometheus exporter + accounts reaching a final status
    broker.add_middleware(CloseMailConnections())  # a worker thread's kept SMTP connection ends with it
    broker.add_middleware(CloseDatabaseConnection())  # and its kept database connection
    broker.add_middleware(WorkerRegistry())  # who is alive, for /ops and `python -m workers.health`
    for module in (validate_customer, provision_access, activate_markets, send_credentials):
        declare_stage(broker, settings, module.STAGE, module.run)
    deliver_webhook.declare(broker, settings)
    return broker

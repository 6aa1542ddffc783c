# One image for every kamflow process: the gateway (gunicorn), the workers (dramatiq) and the CLI
# (kamflow migrate, create-org, ...). docker-compose.yml picks the command per service.
# Nothing secret is built in: every setting comes from the environment at run time (.env.example).

# --- build: the project and its pinned dependencies into a virtualenv ---------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/kamflow
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY gateway ./gateway
COPY workers ./workers
COPY kamflow ./kamflow
RUN /opt/kamflow/bin/pip install . && /opt/kamflow/bin/pip check

# --- run: the virtualenv alone, as an unprivileged user ------------------------------------------
FROM python:3.11-slim-bookworm
COPY --from=build /opt/kamflow /opt/kamflow
RUN useradd --system --uid 10001 --home-dir /srv/kamflow --create-home kamflow
ENV PATH=/opt/kamflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KAMFLOW_VAR_DIR=/srv/kamflow/var \
    dramatiq_prom_db=/srv/kamflow/prometheus
WORKDIR /srv/kamflow
USER 10001:10001
EXPOSE 8000 9191
CMD ["kamflow", "--help"]

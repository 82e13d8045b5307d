# syntax=docker/dockerfile:1
#
# One image for every process of the distributed topology (docs/architecture.md):
#   cloudmart api --host 0.0.0.0 --port 8000     (the default CMD)
#   cloudmart worker ROLE                         (orders, inventory, payments, shipping, orchestrator, projector)
#   cloudmart db upgrade                          (one-shot schema creation)
# Configuration comes from CLOUDMART_* environment variables; see docker-compose.yml.

# --- builder: a virtual environment with the project and its dependencies -----------------------------------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY api ./api
COPY domain ./domain
COPY handlers ./handlers
COPY infra ./infra
COPY projections ./projections

# Every dependency ships a manylinux wheel (psycopg[binary] bundles libpq), so neither stage needs a compiler.
RUN pip install --no-cache-dir . \
    && python -m compileall -q /opt/venv

# --- runtime: only the virtual environment, as an unprivileged user ----------------------------------------------
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH="/opt/venv/bin:${PATH}"

COPY --from=builder /opt/venv /opt/venv

# ./var is where the embedded (SQLite) default would keep its files: writable by the runtime user.
WORKDIR /app
RUN install -d -o 10001 -g 10001 /app/var

USER 10001:10001

EXPOSE 8000

# The API's liveness (slim has no curl). Worker containers override it in docker-compose.yml (they have no port).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"]

CMD ["cloudmart", "api", "--host", "0.0.0.0", "--port", "8000"]

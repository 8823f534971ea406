# agent-audit: one image for the collector, the dashboard and the reference agent.
#   docker build -t agent-audit .
#   docker run --rm agent-audit --help
# docker-compose.yml runs each service from it with its own command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the package needs: tests, benchmarks and local data stay out of the image.
COPY pyproject.toml README.md ./
COPY instrumentation ./instrumentation
COPY collector ./collector
COPY ssh_tools ./ssh_tools
COPY dashboard ./dashboard
COPY agent ./agent
RUN pip install . && rm -rf /src

# An unprivileged user owns /data: the DuckDB file (collector) and the span spool (agent).
# A named volume mounted on /data starts with this ownership.
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin agentaudit \
    && mkdir -p /data \
    && chown agentaudit /data
USER agentaudit
WORKDIR /data
VOLUME ["/data"]

# 4317 OTLP/gRPC, 4318 OTLP/HTTP + REST API, 8501 dashboard, 8000 agent
EXPOSE 4317 4318 8501 8000

ENTRYPOINT ["agent-audit"]
# Inside a container the collector must bind 0.0.0.0, which it refuses without
# AGENT_AUDIT_TOKEN: publish the ports on 127.0.0.1 and set the token.
CMD ["collector", "--host", "0.0.0.0", "--db", "/data/agent_audit.duckdb"]

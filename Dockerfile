# One image for the Dagster webserver, the daemon, the MLflow server and the API (docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false GX_ANALYTICS_ENABLED=false DAGSTER_HOME=/opt/dagster/home
RUN pip install --no-cache-dir "uv>=0.5"
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN uv sync --frozen --no-dev \
 && dbt parse --quiet --project-dir dbt_project --profiles-dir dbt_project \
 && mkdir -p $DAGSTER_HOME && cp docker/dagster.yaml $DAGSTER_HOME/dagster.yaml
EXPOSE 3000 5000 8000

# One image for the app and the worker processes (docker-compose.yml).
FROM python:3.11-slim
WORKDIR /srv/intake
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY core ./core
COPY bot ./bot
COPY nlu ./nlu
COPY policies ./policies
COPY integrations ./integrations
COPY privacy ./privacy
RUN pip install --no-cache-dir '.[postgres]'
EXPOSE 8000
CMD ["intake", "serve", "--host", "0.0.0.0", "--port", "8000"]

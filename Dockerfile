# Common Ground: the web service in a small image. Data (the SQLite file) lives in /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    COMMONGROUND_DATA_DIR=/data

RUN useradd --create-home --uid 10001 commonground \
    && mkdir -p /data \
    && chown commonground:commonground /data

WORKDIR /srv/commonground
COPY pyproject.toml README.md ./
COPY app ./app
COPY matching ./matching
COPY templates ./templates
RUN pip install .

USER commonground
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"

CMD ["commonground", "serve", "--host", "0.0.0.0", "--port", "8000"]

# Common Ground: the web service in a small image. Data (the SQLite file) lives in /data.
# Build: docker build -t commonground .   Run: see docs/deployment.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    COMMONGROUND_DATA_DIR=/data

RUN useradd --create-home --uid 10001 commonground \
    && mkdir -p /data \
    && chown commonground:commonground /data

WORKDIR /usr/src/commonground
# The dependencies first, in a layer of their own: a change to the code reuses it.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > requirements.txt \
    && pip install -r requirements.txt \
    && rm requirements.txt
# Everything the wheel holds (tests/test_packaging.py installs exactly these COPY lines).
COPY README.md ./
COPY app ./app
COPY matching ./matching
COPY templates ./templates
COPY static ./static
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info

# Run away from the sources, so that only the installed package is imported.
WORKDIR /data
USER commonground
VOLUME ["/data"]
EXPOSE 8000

# Liveness only (/healthz answers without the database; /readyz makes the round trip).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

CMD ["commonground", "serve", "--host", "0.0.0.0", "--port", "8000"]

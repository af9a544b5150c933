# weir from this checkout: the controller (`weir serve`), the demo instances (`weir
# demo-instance`) and the CLI, as docker-compose.yml runs them. Build: docker build -t weir .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what `pip install .` reads (.dockerignore keeps the rest of the checkout out).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY controlplane ./controlplane
RUN pip install . \
    && cd / && rm -rf /src \
    && useradd --system --uid 10001 --home-dir /data --no-create-home weir \
    && mkdir /data && chown weir:weir /data

# The ledger lives in /data: mount a volume there to keep it across containers.
USER weir
WORKDIR /data
EXPOSE 8080 18000 18001

# As docker-compose.yml runs it. The comparator (18001) is told the address the proxies reach it
# at: `weir` on compose's network; elsewhere, give --compare-address HOST:PORT.
CMD ["weir", "serve", "--store", "/data/weir.db", "--xds", "0.0.0.0:18000", "--api", "0.0.0.0:8080", "--stats", "push", "--compare", "0.0.0.0:18001", "--compare-address", "weir:18001"]

# A read-only copy of the outage database served by Datasette on $PORT, for app
# platforms such as Google Cloud Run or DigitalOcean App Platform. The database
# is built from the data repository when the image is built; the build workflow
# builds a new image to update it (a server that refreshes in place: deploy/).
#
#   docker build --build-arg DATA_REPO=https://github.com/YOU/pge-outages.git -t pge-outages .
#   docker run --rm -p 8080:8080 pge-outages            # http://127.0.0.1:8080
#   docker run --rm -p 8080:8080 -e ALLOW_DOWNLOAD=1 pge-outages   # offer outages.db for download
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /home/datasette datasette

WORKDIR /app
COPY pyproject.toml README.md LICENSE build_database.py views.sql metadata.yml ./
COPY pge_outages/ pge_outages/
COPY scrapers/ scrapers/
COPY deploy/ deploy/
RUN pip install --no-cache-dir --root-user-action=ignore '.[serve]'

# The data repository to clone (required), its branch, and the commit to build
# up to (default: the branch's newest). Docker reuses a cached database while
# these stay the same: pass DATA_REVISION=<commit> to build a newer one.
ARG DATA_REPO
ARG DATA_BRANCH=main
ARG DATA_REVISION=
ARG DATA_FILE=
RUN test -n "$DATA_REPO" || { echo "give the data repository: docker build --build-arg DATA_REPO=https://github.com/YOU/pge-outages.git ." >&2; exit 1; } \
    && git clone --quiet --single-branch --branch "$DATA_BRANCH" "$DATA_REPO" /tmp/history \
    && mkdir -p /data \
    && python build_database.py /tmp/history /data/outages.db --silent \
        ${DATA_REVISION:+--branch "$DATA_REVISION"} ${DATA_FILE:+--file "$DATA_FILE"} \
    && rm -rf /tmp/history /data/outages.db.lock \
    && datasette inspect /data/outages.db --inspect-file /data/counts.json \
    && chmod -R a+rX /data

USER datasette
ENV HOST=0.0.0.0 PORT=8080 IMMUTABLE=1 ALLOW_DOWNLOAD=0
EXPOSE 8080
# Table counts come from the file datasette inspect made, not from counting each time.
CMD ["deploy/serve.sh", "/data/outages.db", "--inspect-file", "/data/counts.json"]

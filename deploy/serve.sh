#!/bin/sh
# Serve the outage database with Datasette and the project's serving settings.
# This is the one place those settings live: the systemd unit, the Dockerfile
# and the tests all start Datasette through this script.
#
#   deploy/serve.sh outages.db                       # http://127.0.0.1:8001
#   HOST=0.0.0.0 PORT=8080 IMMUTABLE=1 deploy/serve.sh /data/outages.db
#
# Environment:
#   HOST              address to listen on (default 127.0.0.1)
#   PORT              port to listen on (default 8001)
#   IMMUTABLE=1       the file never changes (a container's copy): serve it with
#                     --immutable; otherwise it is served read-only as it grows
#   ALLOW_DOWNLOAD=1  let users download the database file (Datasette offers
#                     that only for an --immutable file)
#   DATASETTE         the datasette command (default: datasette on the PATH)
# Further arguments are passed to `datasette serve`.
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 DB [datasette serve options]" >&2
  exit 2
fi
db=$1
shift

case "${ALLOW_DOWNLOAD:-0}" in
  1 | on | yes | true) download=on ;;
  *) download=off ;;
esac
case "${IMMUTABLE:-0}" in
  1 | on | yes | true) set -- --immutable "$db" "$@" ;;
  *) set -- "$db" "$@" ;;
esac

# A query gets 3 seconds and returns at most 1,000 rows, so no visitor can tie
# up the server; suggested facets cost seconds on tables of real size.
# DATASETTE is left unquoted on purpose: it may be "python -m datasette".
# shellcheck disable=SC2086
exec ${DATASETTE:-datasette} serve "$@" \
  --setting sql_time_limit_ms 3000 \
  --setting max_returned_rows 1000 \
  --setting allow_download "$download" \
  --setting suggest_facets off \
  --host "${HOST:-127.0.0.1}" \
  --port "${PORT:-8001}"

#!/bin/sh
# Serve outage databases with Datasette and the project's serving settings: a thin
# wrapper over `pge-outages serve` for the systemd unit and the Dockerfile, which
# configure it through the environment. The settings themselves live in one place,
# pge_outages/serving.py.
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
#   DATASETTE         the datasette command (default: datasette on the PATH). The
#                     command run is `$DATASETTE pge-outages serve`, which the
#                     project's Datasette plugin adds: the pge-outages installed
#                     beside that Datasette.
# Further arguments (more databases, --inspect-file FILE) are passed to `pge-outages serve`.
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 DB [pge-outages serve options]" >&2
  exit 2
fi

set -- --host "${HOST:-127.0.0.1}" --port "${PORT:-8001}" "$@"
case "${ALLOW_DOWNLOAD:-0}" in
  1 | on | yes | true) set -- --allow-download "$@" ;;
esac
case "${IMMUTABLE:-0}" in
  1 | on | yes | true) set -- --immutable "$@" ;;
esac

# DATASETTE is left unquoted on purpose: it may be "python -m datasette".
# shellcheck disable=SC2086
exec ${DATASETTE:-datasette} pge-outages serve "$@"

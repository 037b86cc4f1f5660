#!/usr/bin/env bash
# The image's HEALTHCHECK: GET /healthz on the silo's HTTP port ($FINEXTRACT_HTTP_PORT, else 8080, as `finextract silo`
# defaults) and succeed only on an HTTP 200. The aspnet noble image has no curl or wget; bash's /dev/tcp needs nothing.
set -u
port="${FINEXTRACT_HTTP_PORT:-8080}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 5 status <&3 || exit 1
exec 3<&-
case "$status" in
  "HTTP/1."[01]" 200"*) exit 0 ;;
  *) echo "unhealthy: ${status}" >&2; exit 1 ;;
esac

#!/bin/bash
# HEALTHCHECK of the FerroCache image: GET /health on the node's own port must
# answer 200 within 3 s (503 while it recovers counts as not healthy yet).
# Plain bash (/dev/tcp), so the image needs no curl.
port=${FERROCACHE_PORT:-3000}
exec timeout 3 bash -c '
  exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
  printf "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" >&3
  IFS= read -r status <&3 || exit 1
  case "$status" in "HTTP/1.1 200 "*) exit 0 ;; *) exit 1 ;; esac
' healthcheck "$port"

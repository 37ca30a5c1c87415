#!/usr/bin/env bash
# Makes a cluster CA and one certificate/key per node for the peer transport's
# mutual TLS (cluster/transport/README.md, "TLS").
#   deploy/make-cluster-certs.sh OUT_DIR node1 node2 ...
# OUT_DIR/ca.pem, ca.key; OUT_DIR/<node>.pem, <node>.key for each node.
# EC P-256 keys; each node certificate is valid 825 days, carries
# SAN DNS:<node> and IP:127.0.0.1, and is for TLS client and server use.
# An existing ca.pem/ca.key in OUT_DIR is reused, so nodes can be added later.
set -euo pipefail
if [ "$#" -lt 2 ]; then
  echo "usage: $0 OUT_DIR node1 [node2 ...]" >&2
  exit 2
fi
out=$1
shift
days=825
mkdir -p "$out"
umask 077
if [ ! -f "$out/ca.pem" ] || [ ! -f "$out/ca.key" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$out/ca.key"
  openssl req -x509 -new -key "$out/ca.key" -sha256 -days "$days" -subj "/CN=ferrocache-cluster-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$out/ca.pem" 2>/dev/null
fi
for node in "$@"; do
  case "$node" in
    *[!A-Za-z0-9._-]* | "") echo "bad node name '$node' (use A-Z a-z 0-9 . _ -)" >&2; exit 2 ;;
  esac
  ext=$(mktemp)
  trap 'rm -f "$ext"' EXIT
  cat > "$ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyAgreement
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:${node},IP:127.0.0.1
EXT
  openssl ecparam -name prime256v1 -genkey -noout -out "$out/$node.key"
  openssl req -new -key "$out/$node.key" -subj "/CN=$node" -out "$out/$node.csr" 2>/dev/null
  openssl x509 -req -in "$out/$node.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial \
    -days "$days" -sha256 -extfile "$ext" -out "$out/$node.pem" 2>/dev/null
  rm -f "$out/$node.csr" "$ext"
done
chmod 644 "$out"/*.pem
echo "certificates for $* in $out (CA: $out/ca.pem)"

#!/bin/sh
# make run: a ready-to-use demo under demo/ (created on first run).
set -eu
cd "$(dirname "$0")/.."
BIN=$PWD/build/sealpost
DEMO=$PWD/demo
mkdir -p "$DEMO"
if [ ! -f "$DEMO/sealpost.conf" ]; then
    cat > "$DEMO/sealpost.conf" <<CONF
# sealpost demo configuration (make run). Loopback only, unprivileged ports.
hostname    = localhost
domains     = demo.test
data_dir    = data
certs_dir   = certs
certificate = mail
CONF
fi
"$BIN" check-config -c "$DEMO/sealpost.conf"

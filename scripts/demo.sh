#!/bin/sh
# make run: a ready-to-use demo server under demo/ (created on first run):
# config on loopback with unprivileged ports, a self-signed certificate, a
# demo user. Then it serves in the foreground; Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
BIN=$PWD/build/sealpost
DEMO=$PWD/demo
CONF=$DEMO/sealpost.conf
USER_ADDR=demo@demo.test

mkdir -p "$DEMO"
if [ ! -f "$CONF" ]; then
    cat > "$CONF" <<CONF
# sealpost demo configuration (make run): loopback only, unprivileged ports.
hostname    = localhost
domains     = demo.test
data_dir    = data
certs_dir   = certs
certificate = mail

[listen]
smtp       = 127.0.0.1:2525
submission = 127.0.0.1:2587
smtps      = 127.0.0.1:2465
pop3       = 127.0.0.1:2110
pop3s      = 127.0.0.1:2995
imap       = 127.0.0.1:2143
imaps      = 127.0.0.1:2993
CONF
fi
if [ ! -f "$DEMO/certs/mail.crt" ]; then
    "$BIN" cert create mail -c "$CONF" --cn localhost \
        --san DNS:localhost,IP:127.0.0.1 --bits 2048 --org "sealpost demo"
fi
if [ ! -f "$DEMO/demo-password" ]; then
    umask 077
    # 18 random bytes, base64: a password nobody else has.
    openssl rand -base64 18 > "$DEMO/demo-password"
    "$BIN" user add "$USER_ADDR" -c "$CONF" --password-file "$DEMO/demo-password"
fi
PASSWORD=$(cat "$DEMO/demo-password")

cat <<INFO

sealpost demo — config $CONF
  user      $USER_ADDR
  password  $PASSWORD   (also in demo/demo-password)
  smtp        127.0.0.1:2525  (STARTTLS)
  submission  127.0.0.1:2587  (STARTTLS, AUTH required)
  smtps       127.0.0.1:2465  (implicit TLS, AUTH required)
  pop3        127.0.0.1:2110  (STLS)
  pop3s       127.0.0.1:2995  (implicit TLS)
  imap        127.0.0.1:2143  (STARTTLS)
  imaps       127.0.0.1:2993  (implicit TLS)
  certificate demo/certs/mail.crt (self-signed: pass it as the CA file)

Send a test mail over STARTTLS:
  swaks --server 127.0.0.1:2525 --tls --tls-ca-path demo/certs/mail.crt \\
        --from someone@example.org --to $USER_ADDR
  printf 'Subject: hi\\r\\n\\r\\nhello\\r\\n' | curl --ssl-reqd \\
        --cacert demo/certs/mail.crt smtp://localhost:2525 \\
        --mail-from someone@example.org --mail-rcpt $USER_ADDR -T -
Submit as the demo user (implicit TLS):
  swaks --server 127.0.0.1:2465 --tlsc --auth PLAIN --auth-user $USER_ADDR \\
        --auth-password "\$(cat demo/demo-password)" --from $USER_ADDR --to $USER_ADDR
Read it with POP3 over TLS:
  curl --netrc-file <(printf 'machine localhost login %s password %s\n' \
        $USER_ADDR "\$(cat demo/demo-password)") --cacert demo/certs/mail.crt \
        pop3s://localhost:2995/1
Or with IMAP (any mail client: server localhost, port 2993 SSL/TLS or 2143
STARTTLS, normal password; trust demo/certs/mail.crt):
  curl --netrc-file <(printf 'machine localhost login %s password %s\n' \
        $USER_ADDR "\$(cat demo/demo-password)") --cacert demo/certs/mail.crt \
        'imaps://localhost:2993/INBOX;UID=1'
Mail lands in demo/data/mail/demo.test/demo/new/. Ctrl-C stops the server.

INFO
exec "$BIN" serve -c "$CONF"

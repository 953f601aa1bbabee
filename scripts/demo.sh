#!/bin/sh
# make run: a ready-to-use demo server under demo/ (created on first run):
# config on loopback with unprivileged ports, a self-signed certificate, a
# demo user. Then it serves in the foreground; Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
BIN=${SEALPOST_BIN:-$PWD/build/sealpost}
# SEALPOST_BIN, SEALPOST_DEMO_DIR and SEALPOST_DEMO_PORT_BASE (default 2000: ports 2525,
# 2587, ...) let tests run the demo beside another one.
DEMO=${SEALPOST_DEMO_DIR:-demo}
BASE=${SEALPOST_DEMO_PORT_BASE:-2000}
CONF=$DEMO/sealpost.conf
USER_ADDR=demo@demo.test
P_SMTP=$((BASE + 525)) P_SUB=$((BASE + 587)) P_SMTPS=$((BASE + 465))
P_POP3=$((BASE + 110)) P_POP3S=$((BASE + 995))
P_IMAP=$((BASE + 143)) P_IMAPS=$((BASE + 993))
CRT=$DEMO/certs/mail.crt

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
smtp       = 127.0.0.1:$P_SMTP
submission = 127.0.0.1:$P_SUB
smtps      = 127.0.0.1:$P_SMTPS
pop3       = 127.0.0.1:$P_POP3
pop3s      = 127.0.0.1:$P_POP3S
imap       = 127.0.0.1:$P_IMAP
imaps      = 127.0.0.1:$P_IMAPS
CONF
fi
if [ ! -f "$CRT" ]; then
    "$BIN" cert create mail -c "$CONF" --cn localhost \
        --san DNS:localhost,IP:127.0.0.1 --bits 2048 --org "sealpost demo"
fi
if [ ! -f "$DEMO/demo-password" ]; then
    umask 077
    # 24 letters and digits from 48 random bytes (about 140 bits): a
    # password nobody else has. Not plain base64: a "+" or "/" first would
    # be read by swaks (Getopt::Long) as an option, not as the password.
    openssl rand -base64 48 | tr -dc 'A-Za-z0-9' | head -c 24 > "$DEMO/demo-password"
    [ "$(wc -c < "$DEMO/demo-password")" -eq 24 ] \
        || { echo "sealpost: $DEMO/demo-password: could not make a password" >&2; exit 1; }
    "$BIN" user add "$USER_ADDR" -c "$CONF" --password-file "$DEMO/demo-password"
fi
PASSWORD=$(cat "$DEMO/demo-password")

cat <<INFO

sealpost demo — config $CONF
  user      $USER_ADDR
  password  $PASSWORD   (also in $DEMO/demo-password)
  smtp        127.0.0.1:$P_SMTP  (STARTTLS)
  submission  127.0.0.1:$P_SUB  (STARTTLS, AUTH required)
  smtps       127.0.0.1:$P_SMTPS  (implicit TLS, AUTH required)
  pop3        127.0.0.1:$P_POP3  (STLS)
  pop3s       127.0.0.1:$P_POP3S  (implicit TLS)
  imap        127.0.0.1:$P_IMAP  (STARTTLS)
  imaps       127.0.0.1:$P_IMAPS  (implicit TLS)
  certificate $CRT (self-signed: pass it as the CA file)

Send a test mail over STARTTLS:
  swaks --server 127.0.0.1:$P_SMTP --tls --tls-ca-path $CRT \\
        --from someone@example.org --to $USER_ADDR
  printf 'Subject: hi\\r\\n\\r\\nhello\\r\\n' | curl --ssl-reqd \\
        --cacert $CRT smtp://localhost:$P_SMTP \\
        --mail-from someone@example.org --mail-rcpt $USER_ADDR -T -
Submit as the demo user (implicit TLS; the password goes through the
environment, never on a command line):
  SWAKS_OPT_auth_password="\$(cat $DEMO/demo-password)" \\
  swaks --server 127.0.0.1:$P_SMTPS --tlsc --tls-ca-path $CRT --auth PLAIN \\
        --auth-user $USER_ADDR --from $USER_ADDR --to $USER_ADDR
Read it with POP3 over TLS:
  curl --netrc-file <(printf 'machine localhost login %s password %s\\n' \\
        $USER_ADDR "\$(cat $DEMO/demo-password)") --cacert $CRT \\
        pop3s://localhost:$P_POP3S/1
Or with IMAP (any mail client: server localhost, port $P_IMAPS SSL/TLS or $P_IMAP
STARTTLS, normal password; trust $CRT):
  curl --netrc-file <(printf 'machine localhost login %s password %s\\n' \\
        $USER_ADDR "\$(cat $DEMO/demo-password)") --cacert $CRT \\
        'imaps://localhost:$P_IMAPS/INBOX;UID=1'
Mail lands in $DEMO/data/mail/demo.test/demo/new/. Ctrl-C stops the server.

INFO
exec "$BIN" serve -c "$CONF"

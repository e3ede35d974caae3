#!/bin/sh
# Start Mosquitto with a password file built at container start (docker-compose.yml).
#
# Service accounts come from the environment: gateway, healthcheck and (demo only)
# simulator, each created only when its MOSQUITTO_*_PASSWORD is set. Device accounts come
# from /mosquitto/config/devices.passwd if mounted: lines `device_id:hash` as written by
# `mosquitto_passwd` (docs/deploy.md), so no device password is ever kept in clear text.
# The file is rebuilt on every start; `docker compose restart mosquitto` applies changes.
set -eu

PASSWD=/mosquitto/auth/passwd
mkdir -p /mosquitto/auth
umask 077
: > "$PASSWD"

add() {  # add USER PASSWORD: an account, when the password is set
    if [ -n "$2" ]; then
        mosquitto_passwd -b "$PASSWD" "$1" "$2"
    fi
}
add gateway "${MOSQUITTO_GATEWAY_PASSWORD:-}"
add healthcheck "${MOSQUITTO_HEALTHCHECK_PASSWORD:-}"
add simulator "${MOSQUITTO_SIMULATOR_PASSWORD:-}"

DEVICES=/mosquitto/config/devices.passwd
if [ -f "$DEVICES" ]; then
    # keep `user:hash` lines; skip blanks and comments
    grep -E '^[^#[:space:]][^:]*:' "$DEVICES" >> "$PASSWD" || true
fi

chown -R mosquitto:mosquitto /mosquitto/auth
echo "mosquitto: $(wc -l < "$PASSWD") accounts in $PASSWD"
exec /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf

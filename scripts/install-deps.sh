#!/bin/sh
# Installs the Debian 12 packages the project needs, and only those that are missing.
# Idempotent: a second run with everything present does nothing and exits 0.
# Root runs apt-get itself; anyone else is told the exact command to run.
set -eu

PACKAGES="
build-essential pkg-config
libmariadb-dev mariadb-server mariadb-client galera-4 rsync
libfcgi-dev libmicrohttpd-dev
libwebsockets-dev libwebsockets-evlib-ev libev-dev
libjson-c-dev libsodium-dev libcmocka-dev libcurl4-openssl-dev ca-certificates
nginx-light apache2 libapache2-mod-fcgid lighttpd spawn-fcgi
python3 python3-pytest python3-requests python3-websockets python3-selenium python3-jsonschema python3-yaml python3-pymysql
chromium chromium-driver
wrk openssl curl
debhelper dpkg-dev fakeroot lintian adduser systemd
clang libclang-rt-14-dev
"
# clang and its libFuzzer runtime: `make test` runs the fuzz targets too. --fuzz (from
# `make fuzz`) is still accepted and needs nothing more.

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages:$missing" >&2
    echo "Run as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi

echo "Installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Never let package installs start system services (mariadb, nginx): the project
# runs its own private instances.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=1
fi
rc=0
apt-get update -q || rc=$?
if [ $rc -eq 0 ]; then
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing || rc=$?
fi
[ $created_policy -eq 1 ] && rm -f "$policy"
exit $rc

#!/usr/bin/env bash
# Debian packages the test suite needs, installed as root (CI runs it on a fresh
# machine): PostgreSQL with the pgvector extension, and Chromium + ChromeDriver
# with fonts for the browser tests; Node and npm for the map bundle check. Idempotent: when everything is in place it
# only checks and exits, without touching apt.
#
# Debian 12 ships no pgvector package, so it is built from Debian 13 (trixie)'s
# source package: only a `deb-src` line for trixie is added, for the duration of
# the build, so no binary package (and no system upgrade) can come from trixie.
set -euo pipefail

PACKAGES=(postgresql chromium chromium-driver fonts-liberation fonts-dejavu-core curl)
TRIXIE_SOURCES=/etc/apt/sources.list.d/explorer-trixie-src.sources
MIN_PGVECTOR=0.8.0  # hnsw.iterative_scan (filtered kNN returning k rows) came in 0.8

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
pg_major() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n1; }
pgvector_version() {  # default_version of the installed extension, or nothing
    sed -n "s/^default_version = '\(.*\)'/\1/p" "/usr/share/postgresql/$(pg_major)/extension/vector.control" 2>/dev/null || true
}
new_enough() { [ "$(printf '%s\n%s\n' "$MIN_PGVECTOR" "$1" | sort -V | head -n1)" = "$MIN_PGVECTOR" ]; }

missing=()
for pkg in "${PACKAGES[@]}"; do installed "$pkg" || missing+=("$pkg"); done
# Node and npm (Debian's, unless some other Node is already there): only for the check that the
# map component's committed bundle is built from its source.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
have_vector=$(pgvector_version)
if [ ${#missing[@]} -eq 0 ] && [ -n "$have_vector" ] && new_enough "$have_vector"; then
    echo "system packages present (PostgreSQL $(pg_major), pgvector $have_vector, $(chromium --version 2>/dev/null))"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-system.sh must run as root to install: ${missing[*]:-} ${have_vector:-pgvector}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -q --no-install-recommends "$@"; }

started=$SECONDS
apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt_install "${missing[@]}"
fi

have_vector=$(pgvector_version)
if [ -z "$have_vector" ] || ! new_enough "$have_vector"; then
    major=$(pg_major)
    echo "building pgvector for PostgreSQL $major from Debian trixie's source package"
    build_dir=$(mktemp -d)
    trap 'rm -rf "$build_dir"; rm -f "$TRIXIE_SOURCES"; apt-get update -q >/dev/null 2>&1 || true' EXIT
    apt_install "postgresql-server-dev-$major" build-essential dpkg-dev
    cat > "$TRIXIE_SOURCES" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt-get update -q
    (cd "$build_dir" && apt-get source -q -o APT::Sandbox::User=root pgvector/trixie)
    source_dir=$(find "$build_dir" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n1)
    # with_llvm=no: no JIT bitcode, so no clang toolchain step; -march stays generic (Debian's no-native patch).
    make -C "$source_dir" -j"$(nproc)" with_llvm=no PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" >/dev/null
    make -C "$source_dir" install with_llvm=no PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" >/dev/null
    have_vector=$(pgvector_version)
    if [ -z "$have_vector" ] || ! new_enough "$have_vector"; then
        echo "pgvector build did not install version >= $MIN_PGVECTOR (found '${have_vector}')" >&2
        exit 1
    fi
fi
echo "system packages ready in $((SECONDS - started))s (PostgreSQL $(pg_major), pgvector $have_vector, $(chromium --version 2>/dev/null))"

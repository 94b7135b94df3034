#!/usr/bin/env bash
# Build fogbank, run the Rust tests, then the end-to-end tests (tests/e2e)
# against the release binary. Extra arguments go to pytest, e.g.
#   scripts/test.sh -k vpc -x
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The network substrate's tests need iproute2 and nftables (they skip, saying why, without
# root). Install them when missing and we are root.
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
if (( ${#missing[@]} )) && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing ${missing[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The aws CLI v2 (Debian's awscli) is tested where it can be had; its tests skip without it.
if ! { command -v aws >/dev/null 2>&1 && aws --version 2>&1 | grep -q '^aws-cli/2'; } \
    && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1 && [[ ! -x /usr/bin/aws ]]; then
    echo "==> installing the aws CLI v2 (Debian awscli), best effort"
    (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli >/dev/null) \
        || echo "    could not install awscli; the CLI v2 tests will skip"
fi

venv=.venv
requirements=tests/requirements.txt
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]]; then
    echo "==> creating $venv from $requirements"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$wanted" > "$stamp"
fi

echo "==> cargo build --release"
if [[ -f Cargo.lock ]]; then
    cargo build --release --locked
else
    cargo build --release
fi

echo "==> cargo test --release --workspace"
if [[ -f Cargo.lock ]]; then
    cargo test --release --workspace --locked
else
    cargo test --release --workspace
fi

echo "==> wire fixtures still match what botocore sends and parses"
"$venv/bin/python" crates/wire/tests/check_with_botocore.py

target_dir="${CARGO_TARGET_DIR:-target}"
export FOGBANK_BIN="${FOGBANK_BIN:-$(cd "$target_dir" && pwd)/release/fogbank}"

echo "==> pytest tests/e2e (fogbank: $FOGBANK_BIN)"
"$venv/bin/python" -m pytest tests/e2e -q -ra "$@"

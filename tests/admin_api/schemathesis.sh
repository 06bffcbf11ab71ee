#!/usr/bin/env bash
# Property-based check of the admin API against its own OpenAPI document: starts the broker (debug binary, or
# BK_BINARY) on a generated config with a throw-away SQLite database, gets an admin token via client_credentials,
# and runs schemathesis (from PyPI, in a venv) against /admin/api/openapi.json. Asserts no 5xx and conformance
# of status codes, content types, headers and bodies to the schema. Ends with one PASS/FAIL line; exit 1 on FAIL.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bridgekeeper-target}"
work=$(mktemp -d -t bk-schemathesis.XXXXXX)
venv="${BK_SCHEMATHESIS_VENV:-$HOME/.cache/bk-schemathesis-venv}"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "== installing schemathesis into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet "schemathesis==4.32.5"
fi
"$venv/bin/schemathesis" --version

bin="${BK_BINARY:-}"
if [ -z "$bin" ]; then
  echo "== building the broker"
  cargo build --locked --quiet
  bin="$CARGO_TARGET_DIR/debug/bridgekeeper"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
admin_secret=$(head -c 32 /dev/urandom | base64 | tr -d '/+=')
cat > "$work/config.toml" <<TOML
issuer = "$base"
bind = "127.0.0.1:$port"
database_url = "sqlite://$work/bk.db"
dev_mode = true
log_level = "warn"

# Every request of the run comes from 127.0.0.1: lift the per-address request ceiling (default 300/s) so that
# its 429s do not show up as undocumented statuses. The limiter still runs.
[rate_limits]
requests_per_second = 1000000
request_burst = 1000000

[[clients]]
client_id = "schemathesis-admin"
client_secret = "\${BK_ADMIN_SECRET}"
allowed_scopes = ["admin"]
grant_types = ["client_credentials"]
redirect_uris = []

[[clients]]
client_id = "sample-app"
client_secret = "sample-secret"
redirect_uris = ["https://app.example/cb"]
TOML

echo "== starting the broker on $base"
BK_ADMIN_SECRET="$admin_secret" "$bin" --config "$work/config.toml" serve >"$work/broker.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$base/readyz" >/dev/null || { echo "broker did not start:"; cat "$work/broker.log"; exit 1; }

token=$(curl -fsS -u "schemathesis-admin:$admin_secret" -d grant_type=client_credentials -d scope=admin \
  "$base/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# Checks: no 5xx, documented status codes, content types, headers and response bodies, 4xx for schema-invalid
# input. Not `positive_data_acceptance`: the API enforces rules the schema cannot express (redirect URI rules,
# the scope catalogue, existing ids), so schema-valid input may rightly get 400/404/409.
checks="not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection"
echo "== schemathesis against $base/admin/api/openapi.json"
set +e
cd "$work"  # schemathesis and hypothesis keep their state in the working directory
"$venv/bin/schemathesis" run "$base/admin/api/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks "$checks" \
  --max-examples "${BK_SCHEMATHESIS_EXAMPLES:-25}" \
  --exclude-path "/admin/api/keys/rotate" \
  --seed 1 \
  --no-color 2>&1 | tee "$work/report.txt"
rc=${PIPESTATUS[0]}
set -e
if grep -qE "panicked|storage failure" "$work/broker.log"; then
  echo "broker log shows failures:"; grep -E "panicked|storage failure" "$work/broker.log" | head -20
  rc=1
fi
if [ "$rc" -eq 0 ]; then
  echo "schemathesis: PASS (no 5xx, responses conform to the OpenAPI document)"
else
  echo "schemathesis: FAIL (exit $rc; see the failures above)"
  exit 1
fi

#!/usr/bin/env bash
# The test command: installs what tests need into ./.venv, starts moto_server (a DynamoDB- and
# Scheduler-compatible server) on a free loopback port, lints and validates the SAM template
# (cfn-lint, sam validate), checks formatting and clippy, and runs every test of the workspace.
# moto is stopped however the run ends.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target
"$venv/bin/python" scripts/moto_server.py 127.0.0.1 "$port" >target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
    break
  fi
  kill -0 "$moto_pid" 2>/dev/null || { cat target/moto.log; echo "moto_server did not start" >&2; exit 1; }
  sleep 0.2
done
export AFFNET_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
echo "moto_server on $AFFNET_TEST_DYNAMODB_ENDPOINT"

echo "== cfn-lint template.yaml"
"$venv/bin/cfn-lint" template.yaml
# SAM's translation catches what cfn-lint lets through (e.g. an EventInvokeConfig destination
# without Type); neither needs credentials or the network. No telemetry.
echo "== sam validate"
SAM_CLI_TELEMETRY=0 "$venv/bin/sam" validate --template template.yaml --region us-east-1
SAM_CLI_TELEMETRY=0 "$venv/bin/sam" validate --lint --template template.yaml --region us-east-1
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked --no-fail-fast

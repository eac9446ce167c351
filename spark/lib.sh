# shellcheck shell=bash disable=SC2034 # (the variables are for the scripts that source this file)
# What the scripts under spark/ share; each sources it first, naming the tag of its messages:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" stack     # say/die print "[stack] ..."
#
# (The tag is required: without an argument, `source` would pass on the script's own arguments.)
#
# Paths: SPARK_DIR, REPO_DIR, CACHE (downloads, $TRADESIGNAL_CACHE, default ~/.cache/tradesignal),
# STACK_DIR (runtime state, default <repo>/.stack) with LOG_DIR, PID_DIR and CHECKPOINT_ROOT
# ($TRADESIGNAL_CHECKPOINT_ROOT, default $STACK_DIR/checkpoints) in it.
# Ports of the local stack, each from its environment variable or its default: KAFKA_PORT 9092,
# KAFKA_CONTROLLER_PORT 9093, SPARK_MASTER_PORT 7077, SPARK_MASTER_UI_PORT 8080,
# SPARK_WORKER_UI_PORT 8081, SPARK_CONNECT_PORT 15002, SPARK_DRIVER_UI_PORT 4040,
# KAFKA_SASL_SSL_PORT KAFKA_PORT + 2, so 9094 (Kafka's TLS + SCRAM listener).
# Client addresses derived from them and exported for the binaries and tests: KAFKA_BROKERS,
# SPARK_REMOTE, SPARK_UI_URL; a value already set in the environment is kept.
# Secrets (made by `spark/stack up`, readable by their owner only) live in SECRETS_DIR
# ($STACK_DIR/secrets); exported for the clients: SPARK_CONNECT_TOKEN_FILE (the Connect server's
# token), KAFKA_SECURE_BROKERS and KAFKA_SECURE_OPTION_FILE (librdkafka settings for the SASL_SSL
# listener: protocol, CA, SCRAM user and password). `load_connect_token` exports the token itself
# as SPARK_CONNECT_AUTHENTICATE_TOKEN, which every Spark Connect client reads (tests use it).

LIB_TAG=$1

SPARK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$SPARK_DIR")"
CACHE="${TRADESIGNAL_CACHE:-$HOME/.cache/tradesignal}"
# Exported: the tests find the stack's secrets and logs there.
export STACK_DIR="${STACK_DIR:-$REPO_DIR/.stack}"
LOG_DIR="$STACK_DIR/logs"
PID_DIR="$STACK_DIR/pids"
CHECKPOINT_ROOT="${TRADESIGNAL_CHECKPOINT_ROOT:-$STACK_DIR/checkpoints}"

HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
SPARK_MASTER_PORT="${SPARK_MASTER_PORT:-7077}"
SPARK_MASTER_UI_PORT="${SPARK_MASTER_UI_PORT:-8080}"
SPARK_WORKER_UI_PORT="${SPARK_WORKER_UI_PORT:-8081}"
SPARK_CONNECT_PORT="${SPARK_CONNECT_PORT:-15002}"
SPARK_DRIVER_UI_PORT="${SPARK_DRIVER_UI_PORT:-4040}"
# Two above the plaintext port unless given, so a stack on other ports (a fresh-clone CI run,
# a test's private broker) moves its secure listener too.
KAFKA_SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-$((KAFKA_PORT + 2))}"
SECRETS_DIR="$STACK_DIR/secrets"

export KAFKA_BROKERS="${KAFKA_BROKERS:-$HOST:$KAFKA_PORT}"
export SPARK_REMOTE="${SPARK_REMOTE:-sc://$HOST:$SPARK_CONNECT_PORT}"
export SPARK_UI_URL="${SPARK_UI_URL:-http://$HOST:$SPARK_DRIVER_UI_PORT}"
export SPARK_CONNECT_TOKEN_FILE="${SPARK_CONNECT_TOKEN_FILE:-$SECRETS_DIR/connect.token}"
export KAFKA_SECURE_BROKERS="${KAFKA_SECURE_BROKERS:-$HOST:$KAFKA_SASL_SSL_PORT}"
export KAFKA_SECURE_OPTION_FILE="${KAFKA_SECURE_OPTION_FILE:-$SECRETS_DIR/kafka-client.properties}"

# Exports the Connect token (when the stack made one and none is set) for clients that read only
# the variable, such as the Spark Connect client library itself.
load_connect_token() {
  if [[ -z "${SPARK_CONNECT_AUTHENTICATE_TOKEN:-}" && -r "$SPARK_CONNECT_TOKEN_FILE" ]]; then
    SPARK_CONNECT_AUTHENTICATE_TOKEN=$(<"$SPARK_CONNECT_TOKEN_FILE")
    export SPARK_CONNECT_AUTHENTICATE_TOKEN
  fi
}

say() { printf '[%s] %s\n' "$LIB_TAG" "$*"; }
die() { printf '[%s] error: %s\n' "$LIB_TAG" "$*" >&2; exit 1; }

#!/usr/bin/env bash
# gmq over HTTP with curl alone (and jq to read JSON): every route is looked
# up by its operationId in the node's /openapi.json, never hard-coded.
#   GMQ_HTTP=http://127.0.0.1:9504 clients/http/walkthrough.sh
set -euo pipefail
base="${GMQ_HTTP:-http://127.0.0.1:9504}"
spec="$(curl -fsS "$base/openapi.json")"
topic="http-curl-$$-$RANDOM"

# call OPERATION_ID [name=value]... [-d JSON] [-q QUERY]: sets $status and $reply.
call() {
  local op="$1" body="" query="" route method path
  shift
  route="$(jq -er --arg op "$op" '.paths | to_entries[] | .key as $p | .value | to_entries[]
    | select(.value.operationId == $op) | "\(.key | ascii_upcase) \($p)"' <<<"$spec")"
  method="${route%% *}" path="${route#* }"
  while [ $# -gt 0 ]; do
    case "$1" in
      -d) body="$2"; shift 2 ;;
      -q) query="?$2"; shift 2 ;;
      *) path="${path//\{${1%%=*}\}/${1#*=}}"; shift ;;
    esac
  done
  local out
  out="$(curl -sS -X "$method" "$base$path$query" -H 'content-type: application/json' ${body:+-d "$body"} -w '\n%{http_code}')"
  status="${out##*$'\n'}" reply="${out%$'\n'*}"
}
expect() { # expect DESCRIPTION JQ_FILTER: the filter must be true of $reply
  jq -e "$2" <<<"$reply" >/dev/null || { echo "FAILED: $1 (status $status): $reply" >&2; exit 1; }
  echo "ok  $1"
}

call Ping
expect "ping answers with the node id" '.nodeId == 1'
call DeclareQueue topic="$topic" bind_key=paid
expect "declares a queue" '.created == true'

call Push topic="$topic" -d "{\"routeKey\":\"paid\",\"body\":\"$(printf 'order 1' | base64)\"}"
expect "push returns the id as a decimal string" '.id | type == "string" and test("^[0-9]+$")'
id="$(jq -r .id <<<"$reply")"
[ "${#id}" -ge 17 ] || { echo "FAILED: id $id is not above 2^53" >&2; exit 1; }

call PushBatch topic="$topic" -d "{\"messages\":[{\"routeKey\":\"paid\",\"body\":\"$(printf 'order 2' | base64)\"},{\"routeKey\":\"paid\",\"body\":\"$(printf 'order 3' | base64)\"}]}"
expect "push batch returns two ids as strings" '.ids | length == 2 and all(type == "string")'

call Pop topic="$topic" bind_key=paid -q wait_ms=1000
expect "pop returns the first message with its exact id" ".message.id == \"$id\" and (.message.body | @base64d) == \"order 1\""
call Ack topic="$topic" bind_key=paid id="$id"
expect "ack by the id string" '. == {}'
call Ack topic="$topic" bind_key=paid id="$id"
expect "a second ack is NOT_FOUND" '.code == "NOT_FOUND"'

call Push topic="$topic" -d "{\"routeKey\":\"nowhere\",\"body\":\"eA==\"}"
expect "a push no queue matches is FAILED_PRECONDITION" '.code == "FAILED_PRECONDITION"'
call GetTopicStat topic="$topic"
expect "topic stat counts uint64 as strings" '.stat.pushed == "3" and (.stat.queues[0].acked == "1")'
echo "curl walkthrough passed"

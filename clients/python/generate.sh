#!/usr/bin/env bash
# Generates the Python stubs (gmq/v1/broker_pb2*.py and google/api/*_pb2.py)
# from ../../proto with Debian's protoc and grpc_python_plugin. The output is
# not committed: run this after every proto change (the tests run it first).
#
# The google/* protos it imports (google/api/annotations.proto, ...) are
# generated too, from the repo's node_modules (see ../proto-includes.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../proto-includes.sh"
rm -rf "$here/gmq/v1" "$here/google"
protoc -I "$repo/proto" -I "$inc" -I /usr/include \
  --python_out="$here" --grpc_out="$here" \
  --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" \
  "${protos[@]}" "${deps[@]}"
echo "generated $here/gmq/v1 and $here/google"

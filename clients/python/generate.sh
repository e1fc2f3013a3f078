#!/usr/bin/env bash
# Generates the Python stubs (gmq/v1/broker_pb2*.py and google/api/*_pb2.py)
# from ../../proto with Debian's protoc and grpc_python_plugin. The output is
# not committed: run this after every proto change (the tests run it first).
#
# google/api/{annotations,http}.proto come from the repo's node_modules
# (google-proto-files) when present, else from Debian's
# /usr/share/protobuf or googleapis copies; google/protobuf/* always comes
# from /usr/include, since google-proto-files' descriptor.proto is newer than
# Debian's protoc 3.21 can parse.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
gapi_src="${GOOGLE_API_PROTOS:-$repo/node_modules/google-proto-files}"
for f in annotations http; do
  [ -f "$gapi_src/google/api/$f.proto" ] || { echo "missing $gapi_src/google/api/$f.proto (set GOOGLE_API_PROTOS)" >&2; exit 1; }
done
inc="$(mktemp -d)"
trap 'rm -rf "$inc"' EXIT
mkdir -p "$inc/google/api"
cp "$gapi_src/google/api/annotations.proto" "$gapi_src/google/api/http.proto" "$inc/google/api/"
rm -rf "$here/gmq/v1" "$here/google"
protoc -I "$repo/proto" -I "$inc" -I /usr/include \
  --python_out="$here" --grpc_out="$here" \
  --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" \
  gmq/v1/broker.proto google/api/annotations.proto google/api/http.proto
echo "generated $here/gmq/v1 and $here/google/api"

#!/usr/bin/env bash
# Generates the Go package gmq/clients/go/gmqpb (broker.pb.go,
# broker_grpc.pb.go) from ../../proto with Debian's protoc, protoc-gen-go and
# protoc-gen-go-grpc, and makes .gopath/, a GOPATH in which this directory
# is the import path gmq/clients/go. Build in GOPATH mode (no module proxy
# needed), with Debian's Go packages in /usr/share/gocode:
#   export GO111MODULE=off GOPATH="$PWD/.gopath:/usr/share/gocode"
#   go run gmq/clients/go/cmd/producer
# Neither output is committed: run this after every proto change (the tests do).
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
pkg=gmq/clients/go/gmqpb
rm -rf "$here/gmqpb" && mkdir -p "$here/gmqpb"
protoc -I "$repo/proto" -I "$inc" -I /usr/include \
  --go_out="$here/gmqpb" --go_opt=paths=source_relative --go_opt="Mgmq/v1/broker.proto=$pkg" \
  --go-grpc_out="$here/gmqpb" --go-grpc_opt=paths=source_relative --go-grpc_opt="Mgmq/v1/broker.proto=$pkg" \
  gmq/v1/broker.proto
mv "$here/gmqpb/gmq/v1/"*.go "$here/gmqpb/" && rm -r "$here/gmqpb/gmq"
mkdir -p "$here/.gopath/src/gmq/clients"
ln -sfn ../../../.. "$here/.gopath/src/gmq/clients/go"
echo "generated $here/gmqpb; GOPATH entry $here/.gopath"

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
source "$here/../proto-includes.sh"
pkg=gmq/clients/go/gmqpb
# The google/* imports are Debian's genproto packages (their go_package), not generated here.
mappings=()
for p in "${protos[@]}"; do mappings+=(--go_opt="M$p=$pkg" --go-grpc_opt="M$p=$pkg"); done
rm -rf "$here/gmqpb" && mkdir -p "$here/gmqpb"
protoc -I "$repo/proto" -I "$inc" -I /usr/include \
  --go_out="$here/gmqpb" --go_opt=paths=source_relative \
  --go-grpc_out="$here/gmqpb" --go-grpc_opt=paths=source_relative "${mappings[@]}" \
  "${protos[@]}"
find "$here/gmqpb" -mindepth 2 -name '*.go' -exec mv {} "$here/gmqpb/" \;
find "$here/gmqpb" -mindepth 1 -type d -empty -delete
mkdir -p "$here/.gopath/src/gmq/clients"
ln -sfn ../../../.. "$here/.gopath/src/gmq/clients/go"
echo "generated $here/gmqpb; GOPATH entry $here/.gopath"

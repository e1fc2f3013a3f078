# Sourced by python/generate.sh and go/generate.sh. Sets:
#   protos  the repo's own .proto files, relative to proto/ (gmq/v1/...)
#   deps    the google/* files they import, transitively, but google/protobuf/*
#   inc     a temp include dir holding deps (removed on exit)
# deps come from the repo's node_modules/google-proto-files (or
# $GOOGLE_API_PROTOS); google/protobuf/* must come from /usr/include, since
# google-proto-files' descriptor.proto is newer than Debian's protoc 3.21 parses.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gapi_src="${GOOGLE_API_PROTOS:-$repo/node_modules/google-proto-files}"
inc="$(mktemp -d)"
trap 'rm -rf "$inc"' EXIT
mapfile -t protos < <(cd "$repo/proto" && find gmq -name '*.proto' | sort)
deps=()
todo=()
for p in "${protos[@]}"; do todo+=("$repo/proto/$p"); done
while [ ${#todo[@]} -gt 0 ]; do
  file="${todo[0]}"
  todo=("${todo[@]:1}")
  for imp in $(sed -n 's/^import \(public \)\{0,1\}"\(google\/[^"]*\)";.*/\2/p' "$file"); do
    case "$imp" in google/protobuf/*) continue ;; esac
    case " ${deps[*]-} " in *" $imp "*) continue ;; esac
    [ -f "$gapi_src/$imp" ] || { echo "missing $gapi_src/$imp (set GOOGLE_API_PROTOS)" >&2; exit 1; }
    mkdir -p "$inc/$(dirname "$imp")"
    cp "$gapi_src/$imp" "$inc/$imp"
    deps+=("$imp")
    todo+=("$inc/$imp")
  done
done

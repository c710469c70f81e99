#!/usr/bin/env bash
# Builds a pinned Go tool from its module, once per version, into the cache, and prints its path:
#   bash test/chart/tool.sh helm   -> $HOOKGATE_CACHE_DIR/tools/helm-<version>-<go>/helm
#   bash test/chart/tool.sh kind   -> $HOOKGATE_CACHE_DIR/tools/kind-<version>-<go>/kind
# `go install module@version` builds with the tool's own go.mod and go.sum (checked against the Go
# checksum database), so nothing here needs a module of its own. Bump a version here to move.
set -euo pipefail
HELM_VERSION=v4.3.2
KIND_VERSION=v0.33.0

here=$(cd "$(dirname "$0")" && pwd)
cache=${HOOKGATE_CACHE_DIR:-$here/../../.cache}/tools
name=${1:?usage: tool.sh helm|kind}
case "$name" in
  helm) pkg=helm.sh/helm/v4/cmd/helm version=$HELM_VERSION ;;
  kind) pkg=sigs.k8s.io/kind version=$KIND_VERSION ;;
  *) echo "tool.sh: unknown tool '$name' (known: helm, kind)" >&2; exit 2 ;;
esac
dir="$cache/$name-$version-$(go env GOVERSION)"
mkdir -p "$cache"
# Test files run in parallel and may all ask for helm on a fresh machine: one builds, others wait.
exec 9>"$cache/$name.lock"
flock 9
if [ ! -x "$dir/$name" ]; then
  echo "building $name $version from its Go module into $dir (the first build on a machine takes minutes)" >&2
  start=$SECONDS
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  # Helm takes its exact version from ldflags (its source says only "v4.3"), as its release build does.
  ldflags="-s -w"
  if [ "$name" = helm ]; then ldflags+=" -X helm.sh/helm/v4/internal/version.version=$version"; fi
  GOBIN="$dir.tmp" GOFLAGS=-buildvcs=false go install -trimpath -ldflags="$ldflags" "$pkg@$version" >&2
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  echo "built $name $version in $((SECONDS - start))s" >&2
  for old in "$cache/$name"-*; do
    case "$old" in "$dir" | *.lock) ;; *) rm -rf "$old" ;; esac
  done
fi
echo "$dir/$name"

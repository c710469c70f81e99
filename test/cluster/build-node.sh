#!/usr/bin/env bash
# Builds the node binaries once per version and points $HOOKGATE_CACHE_DIR/node/current at them:
#   kubelet, kube-scheduler, kube-proxy   from k8s.io/kubernetes pinned in go.mod (node.mod adds
#                                         only their go.sum lines; versions stay the same)
#   coredns                               from its own module, `go install` at $COREDNS_VERSION
#   pause                                 images/pause.c, the node sandbox's PID 1
# Kept apart from build.sh so building the node never changes the control plane's cache key.
# containerd, runc and the CNI plugins come from Debian's packages (`make node-runtime`).
set -euo pipefail
COREDNS_VERSION=v1.14.7

here=$(cd "$(dirname "$0")" && pwd)
cache=${HOOKGATE_CACHE_DIR:-$here/../../.cache}/node
mkdir -p "$cache"
cd "$here"
exec 9>"$cache/build.lock"
flock 9

k8s=$(go list -modfile=node.mod -m -f '{{.Version}}' k8s.io/kubernetes)
gover=$(go env GOVERSION)
recipe=$(cat build-node.sh node.mod node.sum ../../images/pause.c | sha256sum | cut -c1-8)
key="k8s-$k8s-coredns-$COREDNS_VERSION-$gover-$recipe"
bin="$cache/$key"
minor=${k8s#v1.}
minor=${minor%%.*}
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

binaries=(kubelet kube-scheduler kube-proxy coredns pause)
missing=0
for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || missing=1; done
if [ "$missing" = 1 ]; then
  echo "building the node ($key): kubelet, kube-scheduler, kube-proxy, coredns"
  start=$SECONDS
  rm -rf "$bin.tmp" && mkdir -p "$bin.tmp"
  go build -modfile=node.mod -trimpath -buildvcs=false -ldflags="-s -w$stamp" -o "$bin.tmp/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy
  echo "built kubelet, kube-scheduler, kube-proxy in $((SECONDS - start))s"
  # Its own go.mod and go.sum (checked against the checksum database), no replace lines.
  # Static, for an image with nothing else in it.
  CGO_ENABLED=0 GOBIN="$bin.tmp" GOFLAGS=-buildvcs=false go install -trimpath -ldflags="-s -w" \
    "github.com/coredns/coredns@$COREDNS_VERSION"
  # PID 1 of the node's sandbox (node-host.ts): reaps orphans, exits on SIGTERM.
  gcc -static -Os -s -o "$bin.tmp/pause" ../../images/pause.c
  rm -rf "$bin" && mv "$bin.tmp" "$bin"
  echo "built $key in $((SECONDS - start))s"
fi

rm -rf "$cache/current.tmp" && mkdir -p "$cache/current.tmp"
for b in "${binaries[@]}"; do ln -s "$bin/$b" "$cache/current.tmp/$b"; done
printf '{"kubernetes":"%s","coredns":"%s","go":"%s"}\n' "$k8s" "$COREDNS_VERSION" "$gover" >"$cache/current.tmp/versions.json"
rm -rf "$cache/current" && mv "$cache/current.tmp" "$cache/current"
echo "node: kubernetes $k8s, coredns $COREDNS_VERSION ($cache/current)"
for old in "$cache"/k8s-*; do
  case "$old" in "$bin") ;; *) rm -rf "$old" ;; esac
done

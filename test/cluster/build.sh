#!/usr/bin/env bash
# Builds the test control plane from its Go modules, once per version, and points
# $HOOKGATE_CACHE_DIR/controlplane/current at the result:
#   etcd, kube-apiserver, kube-controller-manager, kubectl
#                                                   keyed by the pinned versions, Go and this recipe
#   pki (this module's certificate writer)          keyed by the hash of its source
# Versions are pinned in go.mod; change them there (and run `go mod tidy`) to move.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${HOOKGATE_CACHE_DIR:-$here/../../.cache}/controlplane
mkdir -p "$cache"
cd "$here"

versions=$(go list -m -f '{{.Version}}' k8s.io/kubernetes go.etcd.io/etcd/server/v3 | paste -sd' ')
read -r k8s etcd <<<"$versions"
gover=$(go env GOVERSION)
# The recipe (this script and go.sum) is part of the key: changing how we build rebuilds.
recipe=$(cat "$here/build.sh" go.sum | sha256sum | cut -c1-8)
key="k8s-$k8s-etcd-$etcd-$gover-$recipe"
bin="$cache/$key"
flags=(-trimpath -buildvcs=false)
# Stamp the version the way Kubernetes' release build does, so /version and clients see v1.x.y.
minor=${k8s#v1.}
minor=${minor%%.*}
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

binaries=(etcd kube-apiserver kube-controller-manager kubectl)
missing=0
for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || missing=1; done
if [ "$missing" = 1 ]; then
  echo "building the test control plane ($key) — the first build on a machine takes several minutes"
  start=$SECONDS
  rm -rf "$bin.tmp" && mkdir -p "$bin.tmp"
  go build "${flags[@]}" -ldflags="-s -w" -o "$bin.tmp/etcd" go.etcd.io/etcd/server/v3
  go build "${flags[@]}" -ldflags="-s -w$stamp" -o "$bin.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
  rm -rf "$bin" && mv "$bin.tmp" "$bin"
  echo "built $key in $((SECONDS - start))s"
fi

pkihash=$(cat go.mod pki/*.go | sha256sum | cut -c1-12)
pki="$cache/pki-$pkihash"
if [ ! -x "$pki/pki" ]; then
  rm -rf "$pki.tmp" && mkdir -p "$pki.tmp"
  go build "${flags[@]}" -ldflags="-s -w" -o "$pki.tmp/pki" ./pki
  rm -rf "$pki" && mv "$pki.tmp" "$pki"
fi

rm -rf "$cache/current.tmp" && mkdir -p "$cache/current.tmp"
for b in "${binaries[@]}"; do ln -s "$bin/$b" "$cache/current.tmp/$b"; done
ln -s "$pki/pki" "$cache/current.tmp/pki"
printf '{"kubernetes":"%s","etcd":"%s","go":"%s"}\n' "$k8s" "$etcd" "$gover" >"$cache/current.tmp/versions.json"
rm -rf "$cache/current" && mv "$cache/current.tmp" "$cache/current"
echo "control plane: kubernetes $k8s, etcd $etcd ($cache/current)"
# Builds for other versions are ~250 MB each: keep only the one in use.
for old in "$cache"/k8s-* "$cache"/pki-*; do
  case "$old" in "$bin" | "$pki") ;; *) rm -rf "$old" ;; esac
done

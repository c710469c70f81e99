#!/usr/bin/env bash
# `make images` without Docker: builds the operator and sidecar images from images/*.Dockerfile
# with Debian's buildah (daemonless, as root), on base images made here instead of pulled:
#   localhost/hookgate-base/node:24-bookworm-slim   debootstrap bookworm + Node from the npm
#                                                   registry's node-linux-<arch> + npm
#   localhost/hookgate-base/nodejs24:nonroot        the same with Node at /nodejs/bin/node and a
#                                                   `nonroot` user 65532 (stands in for distroless)
#   localhost/hookgate/pause:<hash>                 a static pause program (pause.c), from scratch
#   localhost/hookgate/coredns:<hash>               CoreDNS as build-node.sh built it, from scratch
# Each output is an OCI archive in $HOOKGATE_CACHE_DIR/images, named by the hash of what it is made
# from, so an unchanged tree builds nothing. The Dockerfiles are unchanged: their ARGs point here.
# Lists them (`key image-name archive` lines) in $HOOKGATE_CACHE_DIR/images/current.txt and on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${HOOKGATE_CACHE_DIR:-$root/.cache}/images
registry=${IMAGE_REGISTRY:-ghcr.io/hookgate}
tag=${IMAGE_TAG:-$(node -p 'require(process.argv[1]).version' "$root/package.json")}
node_version=${NODE_VERSION:?NODE_VERSION is set by the Makefile}
npm_version=11.19.1
arch=$(uname -m)
node_arch=${arch/x86_64/x64}
node_arch=${node_arch/aarch64/arm64}

[ "$(id -u)" = 0 ] || { echo "images/build.sh: buildah needs root here (no rootless setup); run as root or use Docker" >&2; exit 1; }
for tool in buildah debootstrap gcc; do
  command -v "$tool" >/dev/null || { echo "images/build.sh: $tool is missing: run 'make node-runtime' (installs buildah, debootstrap)" >&2; exit 1; }
done
mkdir -p "$cache"
exec 9>"$cache/build.lock"
flock 9

# Buildah's storage lives in the cache, not /var/lib/containers. On exit, even a failed one, the
# working containers go (with their overlay mounts), and so does the storage's own mount.
storage=(--root "$cache/storage" --runroot "$cache/run" --storage-driver overlay)
bah() { buildah "${storage[@]}" "$@"; }
cleanup() {
  bah rm --all >/dev/null 2>&1 || true
  if mountpoint -q "$cache/storage/overlay"; then umount "$cache/storage/overlay" || true; fi
}
trap cleanup EXIT
log() { echo "images: $*" >&2; }
hash() { sha256sum | cut -c1-12; }

# 1. Debian bookworm (minbase), once per recipe; the tarball is the cache entry.
rootfs_key=$(printf 'bookworm minbase %s\n' "$(sed -n '/^# rootfs-recipe/,/^# end/p' "$0")" | hash)
# rootfs-recipe
rootfs="$cache/rootfs-bookworm-$rootfs_key.tar"
if [ ! -f "$rootfs" ]; then
  log "debootstrap bookworm (about a minute)"
  rm -rf "$cache/rootfs.tmp"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$cache/rootfs.tmp" http://deb.debian.org/debian >&2
  rm -rf "$cache/rootfs.tmp"/var/cache/apt/archives/*.deb "$cache/rootfs.tmp"/var/lib/apt/lists/*
  tar -C "$cache/rootfs.tmp" --numeric-owner -cf "$rootfs.tmp" .
  rm -rf "$cache/rootfs.tmp" && mv "$rootfs.tmp" "$rootfs"
fi
# end

# 2. Node from the npm registry (the same package the Makefile unpacks), and npm.
fetch_npm() { # package version -> folder with the unpacked package
  local dir="$cache/npm/$1-$2"
  if [ ! -d "$dir" ]; then
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    (cd "$dir.tmp" && npm pack --silent "$1@$2" >/dev/null && tar xzf ./*.tgz && rm ./*.tgz)
    mv "$dir.tmp/package" "$dir" && rm -rf "$dir.tmp"
  fi
  echo "$dir"
}
node_dir=$(fetch_npm "node-linux-$node_arch" "$node_version")
npm_dir=$(fetch_npm npm "$npm_version")

# The cache file of an image: its name made a file name, and the key of what it is made from.
archive_of() { echo "$cache/$(echo "$1" | tr '/:' '__')-$2.oci.tar"; }

base_key=$(printf '%s %s %s %s\n' "$rootfs_key" "$node_version" "$npm_version" "$(sed -n '/^# base-recipe/,/^# end/p' "$0")" | hash)
node_base=localhost/hookgate-base/node:24-bookworm-slim
runtime_base=localhost/hookgate-base/nodejs24:nonroot
# base-recipe
build_base() { # name with-nonroot
  local c mnt
  c=$(bah from --quiet scratch)
  mnt=$(bah mount "$c")
  tar -C "$mnt" -xf "$rootfs"
  mkdir -p "$mnt/usr/local/bin" "$mnt/usr/local/lib/node_modules"
  cp -a "$node_dir/bin/node" "$mnt/usr/local/bin/node"
  cp -a "$node_dir/include" "$node_dir/share" "$mnt/usr/local/" 2>/dev/null || true
  cp -a "$npm_dir" "$mnt/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  if [ "$2" = nonroot ]; then
    mkdir -p "$mnt/nodejs/bin" && ln -s /usr/local/bin/node "$mnt/nodejs/bin/node"
    echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >>"$mnt/etc/passwd"
    echo 'nonroot:x:65532:' >>"$mnt/etc/group"
    bah config --user 65532:65532 "$c"
  fi
  bah umount "$c" >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$node_version" --cmd node "$c"
  bah commit --quiet --rm "$c" "$1" >/dev/null
}
# end
for pair in "$node_base:root" "$runtime_base:nonroot"; do
  name=${pair%:*}
  kind=${pair##*:}
  archive=$(archive_of "$name" "$base_key")
  if [ ! -f "$archive" ]; then
    log "base image $name"
    build_base "$name" "$kind"
    bah push --quiet "$name" "oci-archive:$archive.tmp:$name" && mv "$archive.tmp" "$archive"
  elif ! bah inspect --type image "$name" >/dev/null 2>&1; then
    bah pull --quiet "oci-archive:$archive" >/dev/null
  fi
  for old in "$cache/$(echo "$name" | tr '/:' '__')"-*.oci.tar; do
    [ "$old" = "$archive" ] || rm -f "$old"
  done
done

# 3. The pause image: one static binary, nothing else.
pause_key=$(cat "$here/pause.c" | hash)
pause=localhost/hookgate/pause:$pause_key
pause_archive=$(archive_of localhost/hookgate/pause "$pause_key")
if [ ! -f "$pause_archive" ]; then
  log "pause image"
  rm -rf "$cache/pause.tmp" && mkdir -p "$cache/pause.tmp"
  gcc -static -Os -s -o "$cache/pause.tmp/pause" "$here/pause.c"
  c=$(bah from --quiet scratch)
  bah copy --quiet "$c" "$cache/pause.tmp/pause" /pause
  bah config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  bah commit --quiet --rm "$c" "$pause" >/dev/null
  bah push --quiet "$pause" "oci-archive:$pause_archive.tmp:$pause" && mv "$pause_archive.tmp" "$pause_archive"
  rm -rf "$cache/pause.tmp"
fi
listing=("pause $pause $pause_archive")

# 3b. CoreDNS (build-node.sh builds it statically from its Go module) on nothing but itself.
coredns_bin=${HOOKGATE_CACHE_DIR:-$root/.cache}/node/current/coredns
if [ -x "$coredns_bin" ]; then
  coredns_key=$(sha256sum <"$coredns_bin" | hash)
  coredns=localhost/hookgate/coredns:$coredns_key
  coredns_archive=$(archive_of localhost/hookgate/coredns "$coredns_key")
  if [ ! -f "$coredns_archive" ]; then
    log "coredns image"
    c=$(bah from --quiet scratch)
    bah copy --quiet "$c" "$(readlink -f "$coredns_bin")" /coredns
    bah config --entrypoint '["/coredns"]' "$c"
    bah commit --quiet --rm "$c" "$coredns" >/dev/null
    bah push --quiet "$coredns" "oci-archive:$coredns_archive.tmp:$coredns" && mv "$coredns_archive.tmp" "$coredns_archive"
  fi
  listing+=("coredns $coredns $coredns_archive")
else
  log "no coredns image: $coredns_bin is missing (make node-build builds it)"
fi

# npm inside RUN steps trusts what the host's npm trusts (a machine's proxy CA, say): its cafile
# and registry are mounted for the build only, never written into a layer.
npm_mounts=()
host_cafile=$(npm config get cafile 2>/dev/null || true)
if [ -n "$host_cafile" ] && [ "$host_cafile" != null ] && [ -f "$host_cafile" ]; then
  printf 'cafile=/run/hookgate-build/npm-ca.crt\nregistry=%s\n' "$(npm config get registry)" >"$cache/npmrc"
  npm_mounts=(--volume "$host_cafile:/run/hookgate-build/npm-ca.crt:ro" --volume "$cache/npmrc:/usr/local/etc/npmrc:ro")
fi

# 4. The two images, keyed by the Dockerfile, the build context it copies, and the base.
context_key=$(cd "$root" && git ls-files -z --cached --others --exclude-standard -- \
  package.json package-lock.json tsconfig.json tsconfig.build.json api common operator sidecar |
  xargs -0 sha256sum | sha256sum | cut -c1-12)
for image in operator sidecar; do
  dockerfile="$here/$image.Dockerfile"
  key=$(printf '%s %s %s %s\n' "$base_key" "$context_key" "$(sha256sum <"$dockerfile")" "$registry/$image:$tag" | hash)
  name="$registry/$image:$tag"
  archive=$(archive_of "$registry/$image" "$key")
  if [ ! -f "$archive" ]; then
    log "buildah bud $name (npm ci and tsc inside, a few minutes)"
    start=$SECONDS
    bah bud --quiet --layers --pull-never --network host --isolation chroot "${npm_mounts[@]}" \
      --build-arg NODE_IMAGE="$node_base" --build-arg RUNTIME_IMAGE="$runtime_base" \
      -f "$dockerfile" -t "$name" "$root" >&2
    bah push --quiet "$name" "oci-archive:$archive.tmp:$name" && mv "$archive.tmp" "$archive"
    log "built $name in $((SECONDS - start))s"
    for old in "$cache/$(echo "$registry/$image" | tr '/:' '__')"-*.oci.tar; do
      [ "$old" = "$archive" ] || rm -f "$old"
    done
  fi
  listing+=("$image $name $archive")
done
# What the node imports (test/cluster/node.ts): one `key image-name archive` line per image.
printf '%s\n' "${listing[@]}" >"$cache/current.txt.tmp" && mv "$cache/current.txt.tmp" "$cache/current.txt"
printf '%s\n' "${listing[@]}"

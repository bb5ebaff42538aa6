#!/usr/bin/env bash
# Builds the images Berth's tests run, from scratch, because these machines cannot pull:
#   berth-testapp:v1, berth-testapp:v2  a static berth-testapp whose built-in version is v1 / v2
#   berth-busybox:latest                 Debian's busybox-static with a symlink per applet
# Every image is labelled berth.test-image=1 and carries the hash of its inputs in
# berth.test-image.inputs; an image whose hash matches is left alone, so a run where nothing
# changed only hashes a few files.
#
#   scripts/test-images.sh           build the images that are out of date
#   scripts/test-images.sh --binary  only build the static berth-testapp (v1) and print its path,
#                                    for the process runtime on machines without Docker
#
# Concurrent runs (parallel test processes) wait for each other on a lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=images
case "${1:-}" in
  "") ;;
  --binary) mode=binary ;;
  *) echo "usage: $0 [--binary]" >&2; exit 2 ;;
esac

work=target/testapp
mkdir -p "$work"
exec 9>"$work/.lock"
flock 9

target=x86_64-unknown-linux-gnu

# Builds berth-testapp for one version into its own target dir: the version is a build-time
# env var, so sharing one dir would recompile on every switch between v1 and v2.
build_testapp() {
  local version=$1
  local dir="$work/$version"
  local bin="$dir/$target/release/berth-testapp"
  env -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS \
    CARGO_TARGET_DIR="$dir" RUSTFLAGS="-C target-feature=+crt-static" \
    BERTH_TESTAPP_VERSION="$version" \
    cargo build --quiet --release -p berth-testapp --target "$target" >&2
  # A dynamically linked binary would fail inside a scratch image with a confusing "not found".
  if ! ldd "$bin" 2>&1 | grep -q "statically linked"; then
    echo "test-images: $bin is not statically linked:" >&2
    ldd "$bin" >&2 || true
    exit 1
  fi
  echo "$PWD/$bin"
}

if [ "$mode" = binary ]; then
  build_testapp v1
  exit 0
fi

if ! docker version --format '{{.Server.Version}}' >/dev/null; then
  echo "test-images: the Docker daemon is not reachable" >&2
  exit 1
fi

if [ ! -x /bin/busybox ] || ! dpkg -s busybox-static >/dev/null 2>&1; then
  echo "test-images: installing busybox-static" >&2
  if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq busybox-static >&2
fi

# Hashes file contents (never their names: the script is called by different paths) plus
# whatever is given on stdin.
hash_of() {
  cat - "$@" | sha256sum | cut -c1-16
}

current_hash() {
  docker image inspect --format '{{index .Config.Labels "berth.test-image.inputs"}}' "$1" \
    2>/dev/null || true
}

# docker build with the labels every test image carries; the legacy builder needs no plugin.
build_image() {
  local tag=$1 hash=$2 context=$3
  echo "test-images: building $tag" >&2
  # Its output is only a deprecation notice unless the build fails.
  if ! DOCKER_BUILDKIT=0 docker build --quiet --label berth.test-image=1 \
    --label "berth.test-image.inputs=$hash" --tag "$tag" "$context" >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    exit 1
  fi
}

built=0
testapp_sources=$(find crates/berth-testapp -type f -not -path '*/target/*' | sort)
for version in v1 v2; do
  # shellcheck disable=SC2086 # one file name per word
  hash=$(printf '%s\n' "$version" "$(rustc -V)" \
    | hash_of $testapp_sources images/testapp/Dockerfile scripts/test-images.sh)
  if [ "$(current_hash "berth-testapp:$version")" = "$hash" ]; then
    continue
  fi
  bin=$(build_testapp "$version")
  context="$work/context-$version"
  rm -rf "$context"
  mkdir -p "$context"
  cp "$bin" "$context/berth-testapp"
  cp images/testapp/Dockerfile "$context/"
  build_image "berth-testapp:$version" "$hash" "$context"
  built=1
done

hash=$(hash_of /bin/busybox images/busybox/Dockerfile scripts/test-images.sh </dev/null)
if [ "$(current_hash berth-busybox:latest)" != "$hash" ]; then
  context="$work/context-busybox"
  rm -rf "$context"
  mkdir -p "$context/rootfs/bin" "$context/rootfs/tmp"
  chmod 1777 "$context/rootfs/tmp"
  cp /bin/busybox "$context/rootfs/bin/busybox"
  for applet in $(/bin/busybox --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$context/rootfs/$(dirname "$applet")"
    ln -sf /bin/busybox "$context/rootfs/$applet"
  done
  cp images/busybox/Dockerfile "$context/"
  build_image berth-busybox:latest "$hash" "$context"
  built=1
fi

if [ "$built" = 1 ]; then
  # Rebuilt tags leave their old images dangling; they are only ever test images.
  docker image prune --force --filter label=berth.test-image=1 >/dev/null
fi

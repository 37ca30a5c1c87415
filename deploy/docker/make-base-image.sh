#!/usr/bin/env bash
# Builds the base image debian:bookworm-slim locally from Debian's packages,
# for machines whose Docker engine cannot pull images. Where the image exists
# (pulled or built before) it does nothing, so the Dockerfile stays the same
# everywhere.
#
#   deploy/docker/make-base-image.sh [IMAGE]     (default debian:bookworm-slim)
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian),
# FORCE=1 rebuilds even when the image exists. Needs root (debootstrap).
set -euo pipefail

image=${1:-debian:bookworm-slim}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "make-base-image: $image is present"
  exit 0
fi

if ! command -v debootstrap >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends debootstrap
fi

root=$(mktemp -d /tmp/ferro-rootfs.XXXXXX)
cleanup() { rm -rf "$root"; }
trap cleanup EXIT

echo "make-base-image: debootstrap bookworm (minbase) from $mirror"
debootstrap --variant=minbase --components=main bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -30 "$root.log"
  exit 1
}
rm -f "$root.log"

# Like Debian's own slim images: no documentation, manual pages or
# translations, now or in packages installed later.
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CFG
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
  "$root"/usr/share/groff/* "$root"/usr/share/lintian/*
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/docker-no-recommends"

# The same sources as Debian's images: the release, its updates, security.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<CFG
Types: deb
URIs: ${mirror}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
CFG

rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/var/log/* "$root"/tmp/* "$root"/root/.bash_history
: >"$root/etc/machine-id"
echo "debian" >"$root/etc/hostname"

echo "make-base-image: importing as $image"
tar --numeric-owner -C "$root" -c . |
  docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' \
    --message "debootstrap --variant=minbase bookworm ($mirror)" - "$image" >/dev/null
docker image ls "$image"

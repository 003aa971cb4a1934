#!/usr/bin/env bash
# `make deb`: builds the chat-server package with dpkg-buildpackage (debhelper; see
# debian/) and copies the result to build/deb/. The build runs in a copy of the tree
# (build/deb/src/chat-server), so dpkg-buildpackage's files land in build/deb/ and not
# beside the repository, and its clean step cannot touch this tree's build/.
# Needs the packages scripts/install-deps.sh installs (debhelper, dpkg-dev, fakeroot,
# lintian). Prints the .deb's path last.
set -euo pipefail

cd "$(dirname "$0")/.."
out=build/deb
src=$out/src/chat-server
rm -rf "$out"
mkdir -p "$src"
# The tree as it is, without build products, the private databases or git's store.
tar --exclude=./build --exclude=./var --exclude=./.git -cf - . | tar -xf - -C "$src"
(cd "$src" && dpkg-buildpackage -us -uc -b -rfakeroot -j"$(nproc)")
# dpkg-buildpackage writes into the parent of the source tree.
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out"/
mv "$out"/src/*.ddeb "$out"/ 2>/dev/null || true
rm -rf "$out/src"
ls "$out"/chat-server_*.deb | grep -v dbgsym

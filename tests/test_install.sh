#!/bin/sh
# The installed library as an outside user sees it: `cmake --install` of this build into a
# temporary prefix, the public headers and nothing private, a program compiled outside the
# source tree with pkg-config, run from the temporary folder with the installed assets.
# Usage: test_install.sh CMAKE BUILD_DIR SOURCE_DIR CC [SANITIZED (1 or 0)]
set -eu
cmake=$1 build=$2 src=$3 cc=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

# install this build into the temporary prefix
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log"
pcdir=$(dirname "$(find "$prefix" -name armfarm.pc)")
libdir=$(dirname "$pcdir")
for f in include/armfarm/armfarm.h include/armfarm/envs/env.h include/armfarm/base/base.h share/armfarm/assets/puck_push.xml; do
  test -f "$prefix/$f" || { echo "not installed: $f"; exit 1; }
done
ls "$libdir"/libarmfarm.so* "$libdir"/libarmfarm.a >/dev/null
for f in envs/env_impl.h envs/randomize.h envs/arm.h envs/terrain.h envs/registry.h; do
  test ! -e "$prefix/include/armfarm/$f" || { echo "private header installed: $f"; exit 1; }
done

# a program outside the source tree, compiled and linked through pkg-config
cp "$src/tests/install_prog.c" "$tmp/prog.c"
cd "$tmp"
flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs armfarm)
echo "cc prog.c $flags"
"$cc" -std=c11 -Wall -Wextra -o prog prog.c $flags -lm

# run it with no ARMFARM_ASSETS: the models must come from the installed folder
assets=$(cd "$prefix/share/armfarm/assets" && pwd -P)
env -u ARMFARM_ASSETS LD_LIBRARY_PATH="$libdir" ./prog "$assets"

# the Python module, when it was built: imported from the prefix's site-packages, it finds the
# installed library beside the prefix (its RPATH) and the installed assets
# (not in the sanitized build: Debian's Python is not built with AddressSanitizer, so an
# instrumented module cannot load into it)
mod=$(find "$prefix" -name 'armfarm.cpython-*.so' | head -n 1)
if [ -n "$mod" ] && [ "${5:-0}" = 1 ]; then
  echo "python: the installed module is not imported in the sanitized build"
elif [ -n "$mod" ]; then
  got=$(env -u ARMFARM_ASSETS PYTHONPATH="$(dirname "$mod")" /usr/bin/python3 -c \
    'import armfarm; e = armfarm.make("pendulum"); e.reset(seed=0); print(armfarm.asset_dir())')
  [ "$got" = "$assets" ] || { echo "installed module loads models from '$got', not $assets"; exit 1; }
  echo "python: import armfarm from $(dirname "$mod"), assets $got"
fi

#!/usr/bin/env bash
# armfarm set-up on Debian 12: installs the missing packages (sudo only when not root),
# configures and builds, then does what it is asked:
#   scripts/setup.sh run    build, then the main job: experiments/quickstart.json and its analysis
#   scripts/setup.sh test   build normally and with ASan+UBSan, run the whole test suite in both
#   scripts/setup.sh bench  build, install the PyTorch peer, run every benchmark
#   scripts/setup.sh build  build only
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-run}
case "$what" in run|test|bench|build) ;; *) echo "usage: scripts/setup.sh [run|test|bench|build]" >&2; exit 2;; esac

# Debian packages the project needs (libqhull-dev: the MuJoCo CMake package refers to its headers;
# zlib1g-dev: the PNG writer; python3: the tests' independent PNG decoder)
pkgs=(build-essential cmake pkg-config libmujoco-dev libqhull-dev libdnnl-dev libglfw3-dev libcjson-dev libcriterion-dev zlib1g-dev
      gnuplot-nox xvfb xauth libgl1-mesa-dri ffmpeg python3)
# the benchmark's PyTorch peer (OpenBLAS: without it Debian's PyTorch is no fair peer)
[ "$what" = bench ] && pkgs+=(python3-torch libopenblas0-pthread)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

jobs=$(nproc 2>/dev/null || echo 2)
build() {  # build DIR [cmake options...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

case "$what" in
  build)
    build build -DAF_TESTS=ON
    ;;
  run)
    build build -DAF_TESTS=OFF
    # the main job: SAC on the pendulum, 2 learning rates x 5 seeds, then the analysis
    # (--resume: a second call continues or reuses what is there instead of overwriting it)
    ./build/armfarm run experiments/quickstart.json --out runs/quickstart --resume
    ./build/armfarm analyze runs/quickstart
    echo "learning curves and table: runs/quickstart/analysis/ (summary.md, curves_train.png, curves_heavy_pole.png)"
    ;;
  bench)
    build build -DAF_TESTS=OFF
    ./build/armfarm bench envs
    ./build/armfarm bench sac
    ;;
  test)
    build build -DAF_TESTS=ON
    # rendering tests need a display: a private Xvfb when there is none
    xrun=()
    [ -z "${DISPLAY:-}" ] && xrun=(xvfb-run -a -s "-screen 0 1280x1024x24")
    (cd build && "${xrun[@]}" ctest --output-on-failure)
    # the same suite under AddressSanitizer and UndefinedBehaviorSanitizer
    build build-asan -DAF_TESTS=ON -DAF_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$PWD/../tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 \
      "${xrun[@]}" ctest --output-on-failure)
    ;;
esac

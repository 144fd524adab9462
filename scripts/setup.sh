#!/usr/bin/env bash
# armfarm set-up on Debian 12: installs the missing packages (sudo only when not root),
# configures and builds, then does what it is asked:
#   scripts/setup.sh run    build, then the main job: experiments/quickstart.json and its analysis
#   scripts/setup.sh test   build normally and with ASan+UBSan, run the whole test suite in both
#                           (the Python binding's pytest suite runs in the normal build only)
#   scripts/setup.sh bench  build, install the PyTorch peer, run every benchmark
#   scripts/setup.sh build  build only (the library, the program and the Python module build/python/armfarm*.so)
#   scripts/setup.sh fuzz [SECONDS]
#                           build the libFuzzer targets with clang-14 into build-fuzz and run each
#                           for SECONDS (default 60) on a copy of tests/fuzz/corpus; crashes are
#                           saved in build-fuzz/crashes/TARGET/ and make the exit status non-zero
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-run}
case "$what" in run|test|bench|build|fuzz) ;; *) echo "usage: scripts/setup.sh [run|test|bench|build|fuzz [SECONDS]]" >&2; exit 2;; esac
fuzz_seconds=${2:-60}
if [ "$what" = fuzz ] && ! [[ "$fuzz_seconds" =~ ^[1-9][0-9]*$ ]]; then echo "setup: fuzz SECONDS must be a whole number of seconds" >&2; exit 2; fi

# Debian packages the project needs (libqhull-dev: the MuJoCo CMake package refers to its headers;
# zlib1g-dev: the PNG writer; python3: the tests' independent PNG decoder; python3-dev and
# python3-numpy: the Python binding, built for Debian's /usr/bin/python3; python3-onnx: the
# tests' onnx.checker and independent evaluation of exported policies)
pkgs=(build-essential cmake pkg-config libmujoco-dev libqhull-dev libdnnl-dev libglfw3-dev libgl-dev libx11-dev libcjson-dev libcriterion-dev zlib1g-dev
      gnuplot-nox xvfb xauth libgl1-mesa-dri ffmpeg python3 python3-dev python3-numpy python3-onnx)
# the binding's pytest suite (a ctest test)
[ "$what" = test ] && pkgs+=(python3-pytest)
# the benchmarks' peers: PyTorch (OpenBLAS: without it Debian's PyTorch is no fair peer) and
# RLtools (its build script links libopenblas-dev)
[ "$what" = bench ] && pkgs+=(python3-torch libopenblas0-pthread libopenblas-dev)
# the fuzz targets: clang and its libFuzzer and sanitizer runtimes
[ "$what" = fuzz ] && pkgs+=(clang-14 libclang-rt-14-dev)
# the Slurm backend's test (tests/test_slurm.sh) starts its own munged, slurmctld and slurmd
[ "$what" = test ] && pkgs+=(slurm-wlm munge)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q
  # munge and slurm-wlm would start system daemons; the test needs none of them (it starts
  # its own, on its own socket, ports and files), so their start is refused during the
  # install (policy-rc.d, which invoke-rc.d and deb-systemd-invoke obey) unless a policy is
  # already in place
  policy=""
  if [[ " ${missing[*]} " =~ " slurm-wlm "|" munge " ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# scripts/setup.sh: no daemon starts while it installs slurm-wlm and munge\nexit 101\n' | $sudo tee $policy >/dev/null
    $sudo chmod 755 $policy
    trap '$sudo rm -f $policy' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
  if [ -n "$policy" ]; then $sudo rm -f "$policy"; trap - EXIT; fi
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
    ./build/armfarm bench conv
    # VectorEnv stepped from Python beside the C runner
    PYTHONPATH=build/python /usr/bin/python3 python/bench_vecenv.py
    ;;
  test)
    build build -DAF_TESTS=ON
    # rendering tests need a display: a private Xvfb when there is none
    xrun=()
    [ -z "${DISPLAY:-}" ] && xrun=(xvfb-run -a -s "-screen 0 1280x1024x24")
    # (ctest's "python" test is the binding's pytest suite: /usr/bin/python3 -m pytest python/tests
    # with PYTHONPATH=build/python)
    (cd build && "${xrun[@]}" ctest --output-on-failure)
    # the same suite under AddressSanitizer and UndefinedBehaviorSanitizer; not the pytest suite:
    # Debian's interpreter is not sanitized, so the module would need ASan's runtime preloaded
    build build-asan -DAF_TESTS=ON -DAF_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$PWD/../tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 \
      "${xrun[@]}" ctest --output-on-failure)
    ;;
  fuzz)
    # the targets, instrumented and sanitized, against the library's objects
    CC=clang-14 build build-fuzz -DAF_TESTS=OFF -DAF_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
    # each target on a copy of its seeds in a temporary folder (tests/ is never written);
    # crash, leak and timeout inputs go to build-fuzz/crashes/TARGET/
    work=$(mktemp -d "${TMPDIR:-/tmp}/armfarm-fuzz.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    failed=()
    for t in experiment env_config checkpoint; do
      crashes=$PWD/build-fuzz/crashes/$t
      mkdir -p "$work/$t" "$crashes"
      cp tests/fuzz/corpus/$t/* "$work/$t/"
      echo "setup: fuzzing $t for $fuzz_seconds s (log: build-fuzz/fuzz_$t.log)"
      if (cd "$work" && TMPDIR="$work" ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
            LSAN_OPTIONS=suppressions=$OLDPWD/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 \
            "$OLDPWD/build-fuzz/fuzz_$t" -max_total_time="$fuzz_seconds" -timeout=30 -rss_limit_mb=4096 -max_len=65536 \
            -artifact_prefix="$crashes/" -print_final_stats=1 "$work/$t" >"$OLDPWD/build-fuzz/fuzz_$t.log" 2>&1); then
        grep -E "^stat::number_of_executed_units|^Done" "build-fuzz/fuzz_$t.log" | tr '\n' ' '; echo
      else
        failed+=("$t")
        echo "setup: fuzz_$t found a problem: $(grep -m1 -E 'ERROR|SUMMARY|runtime error' "build-fuzz/fuzz_$t.log" || echo 'see the log')"
      fi
    done
    if [ ${#failed[@]} -gt 0 ]; then
      echo "setup: crashes in ${failed[*]}; inputs in build-fuzz/crashes/ (copy each to tests/fuzz/regressions/TARGET/ once fixed)" >&2
      exit 1
    fi
    echo "setup: no crashes (${fuzz_seconds} s per target)"
    ;;
esac

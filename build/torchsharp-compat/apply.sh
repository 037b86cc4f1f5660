#!/usr/bin/env bash
# Makes TorchSharp 0.107's native library load on systems whose libstdc++ predates GLIBCXX_3.4.32
# (Debian 12). No-op where the system libstdc++ already provides it (Ubuntu 24.04, Debian 13).
# Usage: apply.sh DIR   (DIR holds libLibTorchSharp.so; idempotent)
set -euo pipefail
dir="$1"
here="$(cd "$(dirname "$0")" && pwd)"
lib="$dir/libLibTorchSharp.so"
symbol=_ZSt21ios_base_library_initv
[ -f "$lib" ] || exit 0
libstdcxx="$(ldconfig -p | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')"
if [ -n "$libstdcxx" ] && grep -q GLIBCXX_3.4.32 "$libstdcxx"; then exit 0; fi
if ! command -v patchelf >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "torchsharp-compat: installing patchelf (apt-get)" >&2
    (apt-get install -y -qq patchelf >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq patchelf; }) >&2
  fi
  command -v patchelf >/dev/null || {
    echo "error: patchelf is required to make TorchSharp load on this libstdc++ (apt-get install patchelf)" >&2
    exit 1
  }
fi
if [ ! -f "$dir/libglibcxx_shim.so" ] || [ "$here/glibcxx_shim.cpp" -nt "$dir/libglibcxx_shim.so" ]; then
  g++ -shared -fPIC -O2 -o "$dir/libglibcxx_shim.so" "$here/glibcxx_shim.cpp"
fi
if patchelf --print-needed "$lib" | grep -qx libglibcxx_shim.so; then exit 0; fi
patchelf --clear-symbol-version "$symbol" "$lib"
python3 "$here/mark_verneed_weak.py" "$lib" GLIBCXX_3.4.32
patchelf --add-needed libglibcxx_shim.so "$lib"
patchelf --set-rpath '$ORIGIN' "$lib"
echo "torchsharp-compat: patched $lib for GLIBCXX_3.4.32"

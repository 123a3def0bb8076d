#!/usr/bin/env bash
# Builds a GPU kit for a machine that has PyTorch (with CUDA) but no .NET and no network. From the repository root:
#   tools/gpu/make-kit.sh [--no-runtime] [--bench] [KIT_DIR]      (KIT_DIR defaults to .gpu-kit, which git ignores)
# The kit holds a framework-dependent publish of the quickstart and the GPU correctness app (tools/gpu/GpuCheck), and with
# --bench the benchmarks, all built WITHOUT a libtorch package (-p:SingLoRAReferenceLibTorch=false): TorchSharp binds to
# the GPU machine's PyTorch libtorch instead. Unless --no-runtime, it also packs this machine's .NET runtime (~30 MB).
# Copy the folder over and run `bash KIT_DIR/gpu-check.sh` there (tools/gpu/README.md).
set -euo pipefail
runtime=1; bench=0; kit=.gpu-kit
for a in "$@"; do
  case "$a" in
    --no-runtime) runtime=0 ;;
    --bench) bench=1 ;;
    -*) echo "make-kit.sh: unknown option $a" >&2; exit 2 ;;
    *) kit="$a" ;;
  esac
done
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
projects=(samples/Quickstart tools/gpu/GpuCheck)
[ "$bench" = 1 ] && projects+=(tests/SingLoRA.Benchmarks)
mkdir -p "$kit"
kit="$(cd "$kit" && pwd)"
if [ "$runtime" = 1 ] && [ ! -f "$kit/dotnet-runtime.tar.xz" ]; then
  dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
  rt=$(ls -d "$dotnet_root"/shared/Microsoft.NETCore.App/*/ | sort -V | tail -1)
  fxr=$(ls -d "$dotnet_root"/host/fxr/*/ | sort -V | tail -1)
  echo "packing the .NET runtime $(basename "$rt")"
  tar -C "$dotnet_root" -cJf "$kit/dotnet-runtime.tar.xz" dotnet "host/fxr/$(basename "$fxr")" "shared/Microsoft.NETCore.App/$(basename "$rt")"
fi
for p in "${projects[@]}"; do
  name=$(basename "$p")
  echo "publishing $p -> $kit/$name/"
  rm -rf "${kit:?}/$name"
  dotnet publish "$root/$p" -c Release -r linux-x64 --self-contained false -p:SingLoRAReferenceLibTorch=false -o "$kit/$name" >"$kit/publish-$name.log" 2>&1 \
    || { tail -20 "$kit/publish-$name.log" >&2; echo "make-kit.sh: publishing $p failed (log: $kit/publish-$name.log)" >&2; exit 1; }
  if ls "$kit/$name"/libtorch_cpu.so >/dev/null 2>&1; then echo "make-kit.sh: $p still ships a libtorch" >&2; exit 1; fi
done
cp "$root/tools/gpu/run-on-gpu.sh" "$root/tools/gpu/gpu-check.sh" "$root/tools/gpu/peft_bench.py" "$kit/"
du -sh "$kit"

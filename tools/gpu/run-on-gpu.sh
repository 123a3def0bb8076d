#!/usr/bin/env bash
# Runs one app of a kit made by make-kit.sh:   bash KIT/run-on-gpu.sh APP [ARGS...]   (APP: Quickstart, GpuCheck, SingLoRA.Benchmarks)
# libtorch: the folder in $SINGLORA_LIBTORCH if set, else PyTorch's torch/lib (asked from $PYTHON, default python3). That
# folder and PyTorch's nvidia/*/lib folders go on LD_LIBRARY_PATH, which is how TorchSharp 0.107 was measured to bind to
# PyTorch 2.11's CUDA libtorch on an H200. dotnet: the kit's packed runtime (unpacked once to /tmp/dotnet), or, where
# the kit has none (make-kit.sh --no-runtime, a CPU rehearsal), the dotnet on PATH.
set -euo pipefail
kit="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
app="${1:?usage: run-on-gpu.sh APP [ARGS...]}"; shift
if [ -f "$kit/dotnet-runtime.tar.xz" ]; then
  if [ ! -x /tmp/dotnet/dotnet ]; then mkdir -p /tmp/dotnet && tar -xJf "$kit/dotnet-runtime.tar.xz" -C /tmp/dotnet; fi
  export DOTNET_ROOT=/tmp/dotnet; dotnet=/tmp/dotnet/dotnet
else
  dotnet=$(command -v dotnet) || { echo "run-on-gpu.sh: the kit has no .NET runtime and dotnet is not on PATH" >&2; exit 1; }
fi
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export NUGET_PACKAGES=/nonexistent   # so TorchSharp does not fall back to a libtorch in a NuGet cache
py=${PYTHON:-python3}
if [ -n "${SINGLORA_LIBTORCH:-}" ] && [ -d "$SINGLORA_LIBTORCH" ]; then
  lib="$SINGLORA_LIBTORCH"; nv=""
else
  lib=$("$py" -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"lib"))') \
    || { echo "run-on-gpu.sh: $py cannot import torch; set SINGLORA_LIBTORCH to a libtorch folder" >&2; exit 1; }
  nv=$("$py" -c 'import glob,os,torch;d=os.path.dirname(os.path.dirname(torch.__file__));print(":".join(sorted(glob.glob(d+"/nvidia/*/lib"))))')
fi
export LD_LIBRARY_PATH="$lib${nv:+:$nv}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
[ -f "$kit/$app/$app.dll" ] || { echo "run-on-gpu.sh: no app $app in $kit" >&2; exit 1; }
cd "$kit/$app" && exec "$dotnet" "$app.dll" "$@"

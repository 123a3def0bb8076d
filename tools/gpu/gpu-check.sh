#!/usr/bin/env bash
# The GPU check, on a machine with PyTorch + CUDA, from a kit made by make-kit.sh:   bash KIT/gpu-check.sh [--device cuda|cpu] [--bench]
# Runs the GPU correctness app and the quickstart on the device (and with --bench, the device benchmark, if the kit has
# it), then prints one summary line:  GPU CHECK: PASS|FAIL (correctness N passed, M failed; quickstart ...; benchmark ...).
# Logs go to $OUT (default /tmp/singlora-gpu-check). --device cpu rehearses the same thing on a CPU. Extra arguments:
# QUICKSTART_ARGS (e.g. "--steps 50") for the quickstart, BENCH_ARGS (e.g. "--shapes 4096x4096") for both benchmarks.
set -uo pipefail
kit="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
device=cuda; bench=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --bench) bench=1; shift ;;
    *) echo "gpu-check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
out="${OUT:-/tmp/singlora-gpu-check}"; mkdir -p "$out"
start=$(date +%s)
bash "$kit/run-on-gpu.sh" GpuCheck --device "$device" >"$out/gpu-check.log" 2>&1; check_rc=$?
check_line=$(grep -E '^gpu-check: [0-9]+ passed' "$out/gpu-check.log" | tail -1)
bash "$kit/run-on-gpu.sh" Quickstart --device "$device" --out "$out/quickstart" ${QUICKSTART_ARGS:-} >"$out/quickstart.log" 2>&1; qs_rc=$?
# The quickstart falls back to the CPU when CUDA is unavailable; a GPU check must not count that as a GPU run.
qs_device=$(grep -oE '^Device: [a-z]+' "$out/quickstart.log" | head -1 | cut -d' ' -f2)
qs_acc=$(grep -oE 'accuracy on the fine-tuning task [0-9.]+ %' "$out/quickstart.log" | tail -1 | grep -oE '[0-9.]+ %')
qs_merge=$(grep -oE 'Merge check: .*' "$out/quickstart.log" | head -1)
bench_part=""
if [ "$bench" = 1 ]; then
  if [ -d "$kit/SingLoRA.Benchmarks" ]; then
    bash "$kit/run-on-gpu.sh" SingLoRA.Benchmarks --device "$device" --report "$out/device-benchmark.md" ${BENCH_ARGS:-} >"$out/benchmark.log" 2>&1; bench_rc=$?
    "${PYTHON:-python3}" "$kit/peft_bench.py" --device "$device" --report "$out/peft-benchmark.md" ${BENCH_ARGS:-} >"$out/peft-benchmark.log" 2>&1; peft_rc=$?
    bench_part="; benchmark rc $bench_rc ($out/device-benchmark.md), PEFT rc $peft_rc ($out/peft-benchmark.md)"
  else
    bench_part="; benchmark not in this kit (make-kit.sh --bench)"; bench_rc=1
  fi
fi
status=PASS
if [ "$check_rc" != 0 ] || [ "$qs_rc" != 0 ] || [ "$qs_device" != "$device" ] || [ "${bench_rc:-0}" != 0 ]; then status=FAIL; fi
echo "GPU CHECK: $status on $device in $(( $(date +%s) - start )) s (correctness: ${check_line:-no summary, rc $check_rc}; quickstart: rc $qs_rc on ${qs_device:-?}, accuracy ${qs_acc:-?}, ${qs_merge:-no merge check}${bench_part}); logs in $out"
[ "$status" = PASS ]

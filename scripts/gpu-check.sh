#!/usr/bin/env bash
# Runs the bundled action on a real GPU machine and prints what it found:
#   1. the raw detection sources (nvidia-smi query/plain/-L, /proc and /sys driver versions,
#      NVIDIA PCI functions), saved under --record DIR for the fixture corpus in
#      __tests__/fixtures/ (add them there with a note of the GPU, driver and date);
#   2. the action's detection record, probe JSON and verdict, from a run of dist/index.js in
#      cuda mode (expect-cuda true) through the runner simulator, on examples/seed or --project DIR;
#   3. the probe alone, run by --python (default python3) when that interpreter already has
#      torch: the check for machines that cannot reach an index (no sync possible there).
#
# Needs Node 20+ (node_modules/.bin/node after `npm ci`), Python with pip, and, for step 2,
# network access to PyPI and the project's torch index. Usage:
#   scripts/gpu-check.sh [--record DIR] [--project DIR] [--python PYTHON] [--skip-action]
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
record=""; project="$here/examples/seed"; python=python3; skip_action=0
while [ $# -gt 0 ]; do
  case "$1" in
    --record) record=$2; shift 2 ;;
    --project) project=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --skip-action) skip_action=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
node=$here/node_modules/.bin/node; [ -x "$node" ] || node=node

section() { printf '\n===== %s\n' "$1"; }
save() { # save NAME COMMAND...: print and, with --record, keep the output and exit status
  local name=$1; shift
  local out status
  out=$(timeout 20 "$@" 2>&1); status=$?
  printf '$ %s (exit %s)\n%s\n' "$*" "$status" "$out"
  if [ -n "$record" ]; then printf '%s\n' "$out" >"$record/$name.exit$status.txt"; fi
}

[ -n "$record" ] && mkdir -p "$record"
section "raw sources"
save query-gpu nvidia-smi --query-gpu=index,name,driver_version,compute_cap,memory.total,pci.bus_id --format=csv,noheader,nounits
save list nvidia-smi -L
save table nvidia-smi
save proc-driver-version cat /proc/driver/nvidia/version
save sys-module-version cat /sys/module/nvidia/version
for dev in /sys/bus/pci/devices/*; do
  if [ "$(cat "$dev/vendor" 2>/dev/null)" = "0x10de" ]; then
    echo "pci $(basename "$dev"): device $(cat "$dev/device") class $(cat "$dev/class") driver $(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)"
  fi
done | tee ${record:+"$record/pci-nvidia.txt"}

if [ "$skip_action" = 0 ]; then
  section "the action, cuda mode, on $project"
  "$node" --input-type=module -e "
    import { runAction } from '$here/e2e/harness/runner.mjs';
    import { cpSync, existsSync, mkdtempSync } from 'node:fs';
    import { execFileSync } from 'node:child_process';
    import { tmpdir } from 'node:os';
    const workspace = mkdtempSync(tmpdir() + '/gpu-check-');
    cpSync('$project', workspace, { recursive: true, filter: (p) => !p.endsWith('.venv') });
    if (!existsSync(workspace + '/poetry.lock')) execFileSync('poetry', ['lock'], { cwd: workspace, stdio: 'inherit' });
    const result = await runAction({ actionDir: '$here', workspace, inputs: { mode: 'cuda', cache: 'false' } });
    console.log(result.log);
    console.log('outputs:', JSON.stringify(result.outputs, null, 2));
    console.log(result.summary);
    console.log('verdict:', result.exitCode === 0 ? 'PASS' : 'FAIL', result.annotations.map((a) => a.level + ': ' + a.message).join('\n'));
  "
fi

section "probe with $python"
"$python" "$here/dist/probe.py" torch --gpu-op-timeout 60 | tee ${record:+"$record/probe.json"}

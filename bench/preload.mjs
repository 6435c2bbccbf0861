// Loaded into the action's node processes with NODE_OPTIONS=--import (bench/run.mjs sets it).
// On exit each process appends one JSON line to $BENCH_PROBE_FILE: its role (main step or
// cache worker), its own peak RSS (VmHWM: this process only, not its children) and, with
// BENCH_TRACE=1, when each program it started began and ended, to see where time goes.
import { appendFileSync, readFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';

const file = process.env.BENCH_PROBE_FILE;
if (file) {
  const t0 = Date.now();
  const spawns = [];
  if (process.env.BENCH_TRACE === '1') {
    const childProcess = createRequire(import.meta.url)('node:child_process');
    const spawn = childProcess.spawn;
    childProcess.spawn = function tracedSpawn(command, args, ...rest) {
      const record = { cmd: [command, ...(Array.isArray(args) ? args : [])].join(' ').slice(0, 160), startMs: Date.now() - t0 };
      const worker = rest[0]?.env?.SETUP_POETRY_TORCH_CACHE_WORKER;
      if (worker) record.worker = JSON.parse(worker).op;
      spawns.push(record);
      const child = spawn.call(this, command, args, ...rest);
      child.once('exit', () => (record.endMs = Date.now() - t0));
      return child;
    };
    // The bundle imports spawn as an ES binding: make it see the wrapper.
    syncBuiltinESMExports();
  }
  process.once('exit', () => {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const role = process.env.SETUP_POETRY_TORCH_CACHE_WORKER ? `worker:${JSON.parse(process.env.SETUP_POETRY_TORCH_CACHE_WORKER).op}` : 'main';
    appendFileSync(file, `${JSON.stringify({ pid: process.pid, role, vmHwmKiB: kib('VmHWM'), wallMs: Date.now() - t0, spawns })}\n`);
  });
}

// `npm run demo`: runs the bundled action (dist/index.js, under Node 24) on examples/seed twice,
// as two jobs of a workflow would: cold (cache miss, sync, verify, save), then warm (exact hit).
// PyTorch's index and GitHub's cache service are served locally; see e2e/harness/.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { startStage } from '../e2e/harness/stage.mjs';

const mode = process.argv.includes('--cuda') ? 'cuda' : 'cpu';
const inputs = mode === 'cuda' ? { mode, 'expect-cuda': 'false' } : { mode };

function show(title, result) {
  console.log(`\n===== ${title}: exit ${result.exitCode} in ${(result.durationMs / 1000).toFixed(1)} s`);
  for (const annotation of result.annotations) console.log(`${annotation.level}: ${annotation.message}`);
  console.log('\noutputs:');
  for (const [name, value] of Object.entries(result.outputs)) console.log(`  ${name.padEnd(20)} ${value}`);
  console.log(`\njob summary:\n${result.summary}`);
}

console.log('Preparing: Poetry, the torch wheel, a local PyTorch-style index and a local cache service...');
const stage = await startStage();
try {
  const workspace = await stage.workspace('seed', 'demo');
  console.log(`Workspace: ${workspace} (a copy of examples/seed, locked against the local index)`);
  const cold = await stage.run(workspace, inputs);
  show('job 1 (cold)', cold);
  // A second job on a fresh runner: same workspace path, no venv yet.
  await fs.rm(path.join(workspace, '.venv'), { recursive: true, force: true });
  const warm = await stage.run(workspace, inputs);
  show('job 2 (warm)', warm);
  const ok = cold.exitCode === 0 && warm.exitCode === 0 && warm.outputs['cache-hit'] === 'true';
  console.log(ok ? `demo: OK (cold ${(cold.durationMs / 1000).toFixed(1)} s, warm ${(warm.durationMs / 1000).toFixed(1)} s)` : 'demo: FAILED');
  process.exitCode = ok ? 0 : 1;
} finally {
  await stage.close();
}

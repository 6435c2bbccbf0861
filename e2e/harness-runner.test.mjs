// Proves e2e/harness/runner.mjs: the parsing of file and workflow commands, and a step's
// environment, lifecycle and timeout, the way the runner runs a step.
// Run: node_modules/.bin/node --test e2e/harness-runner.test.mjs
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { applyExportedEnv, inputEnvName, parseKeyValueFile, parseWorkflowCommands, runAction } from './harness/runner.mjs';
import { actionDir, makeWorkspace, nodeBin, useThrowawayAction } from './harness/throwaway-action.mjs';

useThrowawayAction();

describe('runner parsing helpers', () => {
  test('file-command and workflow-command parsing', () => {
    assert.deepEqual(parseKeyValueFile('a=1\nb<<EOF\nx\n\ny=z\nEOF\nc=has=eq\n'), { a: '1', b: 'x\n\ny=z', c: 'has=eq' });
    assert.throws(() => parseKeyValueFile('b<<EOF\nnever closed\n'), /Missing heredoc delimiter/);
    assert.equal(inputEnvName('expect-cuda'), 'INPUT_EXPECT-CUDA');
    assert.equal(inputEnvName('python version'), 'INPUT_PYTHON_VERSION');
    const cmds = parseWorkflowCommands('plain\n::error file=a%2Cb.ts,line=2,title=x%3Ay::boom%0Anext %25\n::endgroup::\n');
    assert.deepEqual(cmds, [
      { command: 'error', properties: { file: 'a,b.ts', line: '2', title: 'x:y' }, message: 'boom\nnext %' },
      { command: 'endgroup', properties: {}, message: '' },
    ]);
    const env = applyExportedEnv({ PATH: '/usr/bin', KEEP: '1' }, [
      { exportedEnv: { A: '1' }, path: ['/one', '/two'] },
      { exportedEnv: { A: '2' }, path: ['/three', '/one'] },
    ]);
    assert.deepEqual(env, { PATH: '/one:/three:/two:/usr/bin', KEEP: '1', A: '2' });
  });
});

describe('runner environment and lifecycle', () => {
  test('hermetic env, runner variables, inputs, state, exit code', async () => {
    const ws = await makeWorkspace({});
    const probe = join(actionDir, 'probe.mjs');
    await writeFile(
      probe,
      `
      import { appendFileSync } from 'node:fs';
      const pick = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(INPUT_|GITHUB_|RUNNER_|ACTIONS_|STATE_|CI$|EXTRA$)/.test(k)));
      appendFileSync(process.env.GITHUB_OUTPUT, 'env<<EOF\\n' + JSON.stringify(pick) + '\\nEOF\\ncwd=' + process.cwd() + '\\n');
      process.exitCode = 3;
    `,
    );
    const leaked = { INPUT_LEAK: 'x', GITHUB_SERVER_URL: 'http://127.0.0.1:1', ACTIONS_CACHE_URL: 'http://127.0.0.1:1/', RUNNER_DEBUG: '1' };
    Object.assign(process.env, leaked);
    try {
      const r = await runAction({
        actionDir,
        entry: probe,
        workspace: ws,
        nodeBin,
        inputs: { 'expect-cuda': false, 'python version': '3.13' },
        state: { restored: 'true' },
        env: { EXTRA: 'yes', GITHUB_REF: 'refs/heads/other' },
      });
      assert.equal(r.exitCode, 3);
      assert.equal(r.outputs.cwd, ws);
      const env = JSON.parse(r.outputs.env);
      for (const k of Object.keys(leaked)) assert.equal(env[k], undefined, k);
      assert.equal(env['INPUT_EXPECT-CUDA'], 'false');
      assert.equal(env.INPUT_PYTHON_VERSION, '3.13');
      assert.equal(env.STATE_restored, 'true');
      assert.equal(env.EXTRA, 'yes');
      assert.equal(env.GITHUB_REF, 'refs/heads/other');
      assert.equal(env.GITHUB_WORKSPACE, ws);
      assert.equal(env.GITHUB_ACTIONS, 'true');
      assert.equal(env.CI, 'true');
      assert.equal(env.GITHUB_REPOSITORY, 'example/project');
      assert.equal(env.RUNNER_OS, 'Linux');
      assert.equal(env.RUNNER_ARCH, { x64: 'X64', arm64: 'ARM64' }[process.arch]);
      assert.ok(env.RUNNER_TEMP && env.RUNNER_TOOL_CACHE && env.GITHUB_SHA);
      assert.equal(existsSync(env.RUNNER_TEMP), false, 'a runner temp it created is removed');
    } finally {
      for (const k of Object.keys(leaked)) delete process.env[k];
      await rm(ws, { recursive: true, force: true });
    }
  });

  test('timeout kills the step and what it spawned', async () => {
    const ws = await makeWorkspace({});
    const hang = join(actionDir, 'hang.mjs');
    await writeFile(
      hang,
      `
      import { spawn } from 'node:child_process';
      import { appendFileSync } from 'node:fs';
      const c = spawn('sleep', ['60'], { stdio: 'inherit' });
      appendFileSync(process.env.GITHUB_OUTPUT, 'pid=' + c.pid + '\\n');
      setInterval(() => {}, 1000);
    `,
    );
    try {
      const r = await runAction({ actionDir, entry: hang, workspace: ws, nodeBin, timeoutMs: 1500 });
      assert.equal(r.timedOut, true);
      assert.equal(r.exitCode, 1);
      assert.equal(r.signal, 'SIGKILL');
      assert.ok(r.durationMs < 10000, `took ${r.durationMs} ms`);
      const pid = Number(r.outputs.pid);
      assert.ok(pid > 0);
      // Gone, or a zombie left for whatever reaps orphans here (not every container's PID 1 does).
      const state = () => {
        try {
          if (!existsSync('/proc/self/stat')) return (process.kill(pid, 0), 'alive');
          return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0];
        } catch {
          return 'gone';
        }
      };
      for (let i = 0; i < 50 && !['gone', 'Z'].includes(state()); i++) await new Promise((res) => setTimeout(res, 20));
      assert.ok(['gone', 'Z'].includes(state()), `sleep ${pid} is ${state()}`);
    } finally {
      await rm(ws, { recursive: true, force: true });
    }
  });
});

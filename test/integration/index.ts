// Entry point of the integration tier: code-server loads this compiled module (extensionTestsPath)
// inside its real Node extension host, with the extension under development loaded from the
// repository, and calls run(). scripts/run-tests.mjs drives the browser page that hosts it.
//
// Every *.test.js next to this file runs: add a file to add tests. The runner reads two files
// named by environment variables it passes to code-server (and so to the extension host):
//   SPARSITY_LENS_INTEGRATION_LOG      mocha's spec output, streamed to the terminal
//   SPARSITY_LENS_INTEGRATION_RESULTS  {passed, failed, skipped, failures}, summed into the final
//                                      "N passed, N failed" line
// SPARSITY_LENS_INTEGRATION_GREP narrows the run (node scripts/run-tests.mjs integration --grep x).
import { appendFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { format } from 'node:util';

/** The repository root: this file runs from out/test/integration/. */
const REPO = path.resolve(__dirname, '..', '..', '..');

export const RESULT_PREFIX = '[sparsity-lens-integration-results]';

export function run(): Promise<void> {
  // The repository's own mocha, by absolute path: nothing from code-server's node_modules.
  const Mocha = require(path.join(REPO, 'node_modules', 'mocha')) as typeof import('mocha');
  const logFile = process.env.SPARSITY_LENS_INTEGRATION_LOG;
  if (logFile) {
    // The reporter's output reaches the terminal; tests print there with log() from helpers.ts.
    writeFileSync(logFile, '');
    const toConsole = Mocha.reporters.Base.consoleLog;
    Mocha.reporters.Base.consoleLog = (...args: unknown[]) => {
      appendFileSync(logFile, format(...args) + '\n');
      toConsole(...args);
    };
  }
  const mocha = new Mocha({ ui: 'bdd', reporter: 'spec', color: false, timeout: 60_000 });
  const grep = process.env.SPARSITY_LENS_INTEGRATION_GREP;
  if (grep) mocha.grep(grep);
  for (const name of readdirSync(__dirname)
    .filter((n) => n.endsWith('.test.js'))
    .sort())
    mocha.addFile(path.join(__dirname, name));

  const results = { passed: 0, failed: 0, skipped: 0, failures: [] as { title: string; error: string }[] };
  const report = () => {
    const json = JSON.stringify(results);
    const file = process.env.SPARSITY_LENS_INTEGRATION_RESULTS;
    if (file) writeFileSync(file, json);
    console.log(`${RESULT_PREFIX} ${json}`);
  };
  return new Promise((resolve, reject) => {
    try {
      const runner = mocha.run((failures) => {
        report();
        if (failures > 0) reject(new Error(`${failures} integration test(s) failed`));
        else resolve();
      });
      runner.on('pass', () => results.passed++);
      runner.on('pending', () => results.skipped++);
      runner.on('fail', (test, err: Error) => {
        results.failed++;
        results.failures.push({ title: test.fullTitle(), error: err?.stack ?? String(err) });
      });
    } catch (e) {
      results.failed++;
      results.failures.push({ title: 'loading the integration tests', error: (e as Error).stack ?? String(e) });
      report();
      reject(e);
    }
  });
}

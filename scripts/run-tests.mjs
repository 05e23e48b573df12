// Runs the compiled mocha suites and ends with the plain line "N passed, N failed" that CI reads.
import Mocha from 'mocha';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const tiers = process.argv.slice(2);
const roots = tiers.length ? tiers : ['unit'];

function specFiles(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.js'))
    .map((e) => join(e.parentPath ?? e.path, e.name))
    .sort();
}

const mocha = new Mocha({ reporter: 'spec', timeout: 60_000 });
for (const tier of roots) for (const file of specFiles(join('out', 'test', tier))) mocha.addFile(file);

let passed = 0;
let failed = 0;
let skipped = 0;
const runner = mocha.run((failures) => {
  console.log(`\n${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ''));
  process.exitCode = failures ? 1 : 0;
});
runner.on('pass', () => passed++);
runner.on('fail', () => failed++);
runner.on('pending', () => skipped++);

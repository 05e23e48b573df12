import { strict as assert } from 'node:assert';
import { fixture, runCli } from '../../helpers/fixtures';

/** Inputs the fuzzer found breaking the CLI's contract (test/fixtures/fuzz/README.md), each with the one error line it now gives. */
const REGRESSIONS: readonly { readonly file: string; readonly what: string; readonly error: RegExp }[] = [
  {
    file: 'tfjs-deep-quantization-dtype/model.json',
    what: 'a TF.js quantization dtype that is a list nested 20,000 deep (was a stack overflow and a stack trace)',
    error: /: weight "dense\/kernel": quantization dtype is a list, not one TF.js defines \(uint8, uint16, float16\)$/,
  },
];

describe('fuzz regressions: each input the fuzzer found breaking the contract now exits 2 with one printable line naming the file', () => {
  for (const { file, what, error } of REGRESSIONS) {
    it(what, () => {
      const path = fixture('fuzz', file);
      const r = runCli(['report', path, '--json']);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr.split('\n');
      assert.equal(lines.length, 2, r.stderr.slice(0, 2000));
      assert.equal(lines[1], '');
      assert.ok(lines[0].startsWith(`error: ${path}: `), lines[0]);
      assert.match(lines[0], error);
    });
  }
});

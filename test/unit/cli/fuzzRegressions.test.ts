import { strict as assert } from 'node:assert';
import { fixture, runCli } from '../../helpers/fixtures';

/**
 * Inputs the fuzzer found breaking the CLI's contract (test/fixtures/fuzz/README.md): each now
 * either exits 2 with one printable line naming the file (`error`), or reports, listing the
 * tensors it did not read with a reason (`skipped`).
 */
const REGRESSIONS: readonly {
  readonly file: string;
  readonly what: string;
  readonly error?: RegExp;
  readonly skipped?: { readonly name: string; readonly reason: RegExp };
}[] = [
  {
    file: 'tfjs-deep-quantization-dtype/model.json',
    what: 'a TF.js quantization dtype that is a list nested 20,000 deep (was a stack overflow and a stack trace)',
    error: /: weight "dense\/kernel": quantization dtype is a list, not one TF.js defines \(uint8, uint16, float16\)$/,
  },
  {
    file: 'pytorch-deflate-bomb.pt',
    what: 'a torch.save zip whose storage record is deflated 1029:1 to 72 MiB (was inflated in memory: 900 MiB ones took 1.9 GB and 5 s)',
    skipped: { name: 'conv.weight', reason: /^compressed zip member "mlp\/data\/0" would inflate 1029 times, .* \(a zip bomb\?\)$/ },
  },
  {
    file: 'npz-deflate-bomb.npz',
    what: 'an .npz whose member is deflated 1028:1 to 72 MiB (was inflated in memory: 900 MiB ones took 1.9 GB and 5 s)',
    skipped: { name: 'fc.weight', reason: /^compressed zip member "fc.weight.npy" would inflate 1028 times, .* \(a zip bomb\?\)$/ },
  },
];

describe('fuzz regressions: inputs the fuzzer found breaking the contract now keep it', () => {
  for (const { file, what, error, skipped } of REGRESSIONS) {
    it(what, () => {
      const path = fixture('fuzz', file);
      const r = runCli(['report', path, '--json']);
      if (error) {
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stdout, '');
        const lines = r.stderr.split('\n');
        assert.equal(lines.length, 2, r.stderr.slice(0, 2000));
        assert.equal(lines[1], '');
        assert.ok(lines[0].startsWith(`error: ${path}: `), lines[0]);
        assert.match(lines[0], error);
      }
      if (skipped) {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, '');
        const report = JSON.parse(r.stdout) as { skipped: { name: string; reason: string }[] };
        const entry = report.skipped.find((s) => s.name === skipped.name);
        assert.ok(entry, JSON.stringify(report.skipped));
        assert.match(entry.reason, skipped.reason);
      }
    });
  }
});

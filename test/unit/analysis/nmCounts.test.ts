import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { parseNmPattern } from '../../../src/core/nmPattern';
import { parseRoleOverridesJson } from '../../../src/core/roles/roleOverrides';
import { createKernels } from '../../../src/kernels/createKernels';
import type { Kernels } from '../../../src/kernels/kernels';
import { fixture, REPO } from '../../helpers/fixtures';

/** Counted with numpy by scripts/fixtures/make_nm_expected.py. */
const expected = JSON.parse(readFileSync(fixture('nm', 'expected.json'), 'utf8')) as Record<
  string,
  { groups: number; compliant: number; excess: number }
>;

describe('N:M groups, compliant groups and the excess a projection removes', function () {
  this.timeout(120_000);
  // Keys model/tensor/layout/N:M; model/tensor alone holds the figures of test/unit/analysis/target.test.ts.
  const cases = [
    ...new Set(
      Object.keys(expected)
        .map((k) => k.split('/'))
        .filter((k) => k.length === 4 && (k[2] === 'out,in' || k[2] === 'in,out'))
        .map(([model, , layout, pattern]) => `${model}/${layout}/${pattern}`),
    ),
  ];

  for (const backend of ['native', 'reference'] as const) {
    describe(`${backend} kernels`, () => {
      let kernels: Kernels;
      before(() => (kernels = createKernels({ backend, root: REPO })));
      after(() => kernels.dispose());

      for (const c of cases) {
        const [model, layout, pattern] = c.split('/');
        it(`${model} read as [${layout}] at ${pattern}`, async () => {
          const roles = layout === 'in,out' ? parseRoleOverridesJson(`{"*.weight": {"role": "linear", "layout": "in,out"}}`) : [];
          const { report } = await kernels.analyseFile({
            file: fixture(`${model}.safetensors`),
            roles,
            nm: parseNmPattern(pattern),
            zeroThreshold: 0,
          });
          for (const l of report.layers.filter((x) => x.nm)) {
            const e = expected[`${model}/${l.name}/${layout}/${pattern}`];
            assert.deepEqual([l.nm!.groups, l.nm!.compliant, l.nm!.excess], [e.groups, e.compliant, e.excess], l.name);
          }
        });
      }
    });
  }
});

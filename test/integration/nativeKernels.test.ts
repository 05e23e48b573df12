import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { createKernels, nativePaths } from '../../src/kernels/createKernels';
import { activeExtension } from './helpers';

describe('extension host: native kernels', () => {
  it('forks the kernel worker from the extension folder and scans with the native addon', async () => {
    const ext = await activeExtension();
    const paths = nativePaths(ext.extensionPath);
    assert.ok(existsSync(paths.workerScript), `${paths.workerScript} is missing (npm run build)`);
    assert.ok(existsSync(paths.addon), `${paths.addon} is missing (npm install builds it)`);
    const kernels = createKernels({ backend: 'native', root: ext.extensionPath });
    try {
      const bytes = new Uint8Array(new Float32Array([1.5, 0, -0, 2, 0, 3, 0, 0]).buffer);
      const result = await kernels.scan({
        source: { kind: 'inline', bytes },
        dtype: 'float32',
        shape: [2, 4],
        layout: { outAxis: 0, inAxis: 1 },
        nm: { n: 2, m: 4 },
      });
      assert.equal(result.numel, 8);
      assert.equal(result.nnz, 3);
      assert.equal(result.negativeZeros, 1);
      assert.deepEqual(Array.from(result.fanIn ?? []), [2, 1]);
      assert.deepEqual(result.nm, { groups: 2, compliant: 2, partial: 0, excess: 0 });
    } finally {
      await kernels.dispose();
    }
  });
});

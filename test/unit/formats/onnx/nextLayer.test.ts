import { strict as assert } from 'node:assert';
import { fixture, reportOf } from '../../../helpers/fixtures';

/** Each weight's next layer as read off the graphs by hand (node lists in scripts/fixtures and ../shared/data). */
describe('ONNX: the layer a weight’s outputs feed', () => {
  async function nextOf(...path: string[]): Promise<[string, string | undefined][]> {
    const report = await reportOf(fixture(...path));
    return report.layers.filter((l) => l.role !== 'other').map((l) => [l.displayName ?? l.name, l.nextLayer]);
  }

  it('an MLP: Gemm → Relu → Gemm, the output layer feeds nothing', async () => {
    assert.deepEqual(await nextOf('digits_mlp.onnx'), [
      ['fc1.weight', 'fc2.weight'],
      ['fc2.weight', 'fc3.weight'],
      ['fc3.weight', undefined],
    ]);
  });

  it('a CNN: Conv → Relu → Conv is followed, Conv → Flatten → Gemm is not (channels become columns)', async () => {
    assert.deepEqual(await nextOf('generated', 'convnet.onnx'), [
      ['conv1.weight', 'conv2.weight'],
      ['conv2.weight', undefined],
      ['fc1.weight', 'fc2.weight'],
      ['fc2.weight', undefined],
    ]);
  });

  it('a residual network: an output that also feeds a skip connection has no single next layer', async () => {
    // conv1 → Relu → (layer1.0.conv1 and the Add); layer1.x.conv1 → Relu → Add; the pooled Add → fc.
    assert.deepEqual(await nextOf('generated', 'bn_folded.onnx'), [
      ['conv1', undefined],
      ['layer1.0.conv1', undefined],
      ['layer1.1.conv1', undefined],
      ['fc.weight', undefined],
    ]);
  });
});

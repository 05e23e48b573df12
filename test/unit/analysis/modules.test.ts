import { strict as assert } from 'node:assert';
import { byModule, moduleOf } from '../../../src/core/analysis/modules';

describe('tensors grouped by module (the name’s prefix)', () => {
  it('the module of a tensor: its name without the last part; an ONNX weight’s module path; none at the top', () => {
    assert.equal(moduleOf({ name: 'layer1.0.conv1.weight', role: 'conv' }), 'layer1.0.conv1');
    assert.equal(moduleOf({ name: 'layer1.0.bn1.running_mean', role: 'other' }), 'layer1.0.bn1');
    assert.equal(moduleOf({ name: 'onnx::Conv_241', displayName: 'layer4.0.conv2', role: 'conv' }), 'layer4.0.conv2');
    assert.equal(moduleOf({ name: 'onnx::Conv_242', displayName: 'layer4.0.conv2.bias', role: 'other' }), 'layer4.0.conv2');
    assert.equal(moduleOf({ name: 'embedding', role: 'other' }), '');
  });

  it('groups in the order of their first tensor, tensors in theirs', () => {
    const names = ['fc1.weight', 'fc2.weight', 'fc1.bias', 'scale', 'fc2.bias'];
    assert.deepEqual(
      byModule(names, (name) => ({ name, role: 'other' as const })),
      [
        ['fc1', ['fc1.weight', 'fc1.bias']],
        ['fc2', ['fc2.weight', 'fc2.bias']],
        ['', ['scale']],
      ],
    );
  });
});

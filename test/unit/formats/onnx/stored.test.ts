import { strict as assert } from 'node:assert';
import { realpathSync } from 'node:fs';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import type { DerivedTensor, StoredOnnxField, StoredTensor } from '../../../../src/core/storedTensor';
import { fixture } from '../../../helpers/fixtures';

function field(stored: StoredTensor): StoredOnnxField {
  assert.equal(stored.kind, 'onnxField');
  return stored as StoredOnnxField;
}

describe('ONNX: how each tensor is stored', () => {
  it('raw_data: the field payload in the model, the same range the kernels read', async () => {
    const file = fixture('digits_mlp.onnx');
    const checkpoint = await openCheckpoint(file);
    assert.ok(checkpoint.tensors.length > 0);
    for (const t of checkpoint.tensors) {
      assert.deepEqual(
        t.stored,
        {
          kind: 'onnxField',
          file,
          field: 'raw_data',
          encoding: 'raw',
          offset: (t.source as { offset: number }).offset,
          length: (t.source as { length: number }).length,
        },
        t.name,
      );
    }
  });

  it('external data: the external file, with the location as the model writes it', async () => {
    const model = fixture('generated', 'external', 'model.onnx');
    const data = realpathSync(fixture('generated', 'external', 'weights.bin'));
    let end = 0;
    for (const t of (await openCheckpoint(model)).tensors) {
      const stored = field(t.stored);
      assert.deepEqual(
        [stored.file, stored.field, stored.encoding, stored.external],
        [data, 'raw_data', 'raw', { model, location: 'weights.bin' }],
        t.name,
      );
      assert.deepEqual(t.source, { kind: 'file', path: data, offset: stored.offset, length: stored.length }, t.name);
      assert.equal(stored.offset, end, 'tensors follow one another in weights.bin');
      end += stored.length;
    }
  });

  it('typed fields: float_data stays a range; varint int32_data / int64_data are decoded', async () => {
    const checkpoint = await openCheckpoint(fixture('generated', 'typed_fields.onnx'));
    const encoding = (name: string) => {
      const stored = field(checkpoint.tensors.find((t) => t.name === name)!.stored);
      return [stored.field, stored.encoding];
    };
    assert.deepEqual(encoding('matmul.B'), ['raw_data', 'raw']);
    assert.deepEqual(encoding('gemm.B'), ['float_data', 'fixed']);
    assert.deepEqual(encoding('reshape.shape'), ['int64_data', 'varint']);
    assert.deepEqual(encoding('half_gemm.B'), ['int32_data', 'varint']);
  });

  it('4-bit integers are unpacked, or shifted by their zero point, from the raw_data field', async () => {
    const checkpoint = await openCheckpoint(fixture('onnx_quant', 'dq_int4.onnx'));
    const stored = (name: string) => checkpoint.tensors.find((t) => t.name === name)!.stored as DerivedTensor;
    const u4 = stored('w_u4');
    assert.ok(u4.op === 'zeroPoint');
    assert.deepEqual([u4.typeName, u4.storedDType, u4.shiftedTo, u4.zeroPoints], ['uint4', 'uint4', 'int8', [8]]);
    assert.equal(field(u4.from).field, 'raw_data');
    const i4 = stored('w_i4');
    assert.ok(i4.op === 'unpackInt4');
    assert.equal(i4.signed, true);
  });

  it('a per-channel zero point names its axis', async () => {
    const checkpoint = await openCheckpoint(fixture('onnx_quant', 'qlinearconv.onnx'));
    const shifted = checkpoint.tensors
      .map((t) => t.stored)
      .filter((s): s is Extract<DerivedTensor, { op: 'zeroPoint' }> => s.kind === 'derived' && s.op === 'zeroPoint');
    assert.ok(shifted.some((s) => s.axis === 0 && s.zeroPoints.length > 1));
  });
});

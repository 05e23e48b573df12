import { strict as assert } from 'node:assert';
import { sliceOf, storageNote, type StoredRange, type StoredTensor } from '../../src/core/storedTensor';

const range: StoredRange = { kind: 'range', file: '/m/w.bin', offset: 100, length: 64, byteOrder: 'little' };
const big: StoredRange = { ...range, byteOrder: 'big' };

describe('storageNote: the display note of a stored tensor', () => {
  it('says nothing when the analysed bytes are the stored ones', () => {
    assert.equal(storageNote(range), undefined);
    assert.equal(storageNote({ kind: 'ranges', parts: [range, range] }), undefined);
    assert.equal(storageNote({ kind: 'empty' }), undefined);
    assert.equal(
      storageNote({ kind: 'onnxField', file: '/m/a.onnx', field: 'raw_data', encoding: 'raw', offset: 9, length: 4 }),
      undefined,
    );
  });

  it('names each derivation as the readers always have', () => {
    const cases: [StoredTensor, string][] = [
      [{ kind: 'derived', op: 'byteSwap', unit: 4, from: big }, 'byte-swapped from big-endian'],
      [{ kind: 'derived', op: 'fortranOrder', itemSize: 4, from: range }, 'transposed from Fortran order'],
      [{ kind: 'derived', op: 'stridedView', itemSize: 4, shape: [2, 3], strides: [1, 2], from: range }, 'non-contiguous view, gathered'],
      [{ kind: 'derived', op: 'unpackInt4', signed: true, from: range }, 'int4, unpacked to int8'],
      [{ kind: 'derived', op: 'unpackInt4', signed: false, from: range }, 'uint4, unpacked to int8'],
      [
        { kind: 'derived', op: 'zeroPoint', typeName: 'uint8', storedDType: 'uint8', shiftedTo: 'int16', zeroPoints: [128], from: range },
        'uint8, zero = zero point 128',
      ],
      [
        {
          kind: 'derived',
          op: 'zeroPoint',
          typeName: 'qint8',
          storedDType: 'int8',
          shiftedTo: 'int16',
          zeroPoints: [0, 2, -3],
          axis: 0,
          from: range,
        },
        'qint8, zero = per-channel zero point (axis 0)',
      ],
      [{ kind: 'derived', op: 'zeroPoint', typeName: 'qint8', storedDType: 'int8', zeroPoints: [0], from: range }, 'qint8, zero point 0'],
      [
        {
          kind: 'derived',
          op: 'prunePair',
          orig: { name: 'features.0.weight_orig', dtype: 'float32', stored: range },
          mask: { name: 'features.0.weight_mask', dtype: 'float32', stored: range },
        },
        'effective weight = weight_orig × weight_mask',
      ],
      [
        { kind: 'derived', op: 'dequantize', codes: 'uint8', scale: 0.5, min: -63, to: 'float32', zeroCode: 126, from: range },
        'dequantized from uint8 (v × scale + min); 0 = code 126',
      ],
      [
        { kind: 'derived', op: 'dequantize', codes: 'uint16', scale: 0.3, min: -0.1, to: 'float32', zeroCode: undefined, from: range },
        'dequantized from uint16 (v × scale + min); 0 is not representable: no weight decodes to exactly 0',
      ],
      [{ kind: 'derived', op: 'float16Quantization', from: range }, 'stored as float16 (TF.js quantization of a float32 weight)'],
    ];
    for (const [stored, note] of cases) assert.equal(storageNote(stored), note);
  });

  it('names chained derivations first applied first: "; " between steps, a comma before a Fortran-order transpose', () => {
    const gathered: StoredTensor = { kind: 'derived', op: 'stridedView', itemSize: 1, shape: [4, 2], strides: [1, 4], from: big };
    const swapped: StoredTensor = { kind: 'derived', op: 'byteSwap', unit: 1, from: gathered };
    const shifted: StoredTensor = {
      kind: 'derived',
      op: 'zeroPoint',
      typeName: 'qint8',
      storedDType: 'int8',
      shiftedTo: 'int16',
      zeroPoints: [-128],
      from: swapped,
    };
    assert.equal(storageNote(shifted), 'non-contiguous view, gathered; byte-swapped from big-endian; qint8, zero = zero point -128');
    const fortran: StoredTensor = {
      kind: 'derived',
      op: 'fortranOrder',
      itemSize: 4,
      from: { kind: 'derived', op: 'byteSwap', unit: 4, from: big },
    };
    assert.equal(storageNote(fortran), 'byte-swapped from big-endian, transposed from Fortran order');
  });

  it("a pruning pair's note does not follow how its parts are stored", () => {
    const swapped: StoredTensor = { kind: 'derived', op: 'byteSwap', unit: 4, from: big };
    const pair: StoredTensor = {
      kind: 'derived',
      op: 'prunePair',
      orig: { name: 'weight_orig', dtype: 'float32', stored: swapped },
      mask: { name: 'weight_mask', dtype: 'float32', stored: swapped },
    };
    assert.equal(storageNote(pair), 'effective weight = weight_orig × weight_mask');
  });

  it("a pruning pair's part names, taken from the file, are escaped onto one line", () => {
    const pair: StoredTensor = {
      kind: 'derived',
      op: 'prunePair',
      orig: { name: 'fc.<img src=x onerror=alert(1)>\u202e\n_orig', dtype: 'float32', stored: range },
      mask: { name: 'fc.\u001b[31m_mask', dtype: 'float32', stored: range },
    };
    assert.equal(storageNote(pair), 'effective weight = <img src=x onerror=alert(1)>\\u202e\\n_orig × \\x1b[31m_mask');
  });

  it('sliceOf narrows a range or zip member, counting from its own start', () => {
    assert.deepEqual(sliceOf(range, 8, 16), { ...range, offset: 108, length: 16 });
  });
});

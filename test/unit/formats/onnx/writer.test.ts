import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Checkpoint, TensorEntry } from '../../../../src/core/checkpoint';
import { CheckpointError } from '../../../../src/core/errors';
import { writeOnnx } from '../../../../src/core/formats/onnx/writer';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import type { StoredEdit } from '../../../../src/core/formats/writer';
import type { StoredOnnxField, StoredTensor } from '../../../../src/core/storedTensor';
import { readSpan } from '../../../../src/core/tensorBytes';
import { fixture, makeTempDir, REPO } from '../../../helpers/fixtures';
import { metadataProps } from '../../../helpers/onnxMetadata';
import {
  lenField,
  ONNX_DTYPE,
  onnxDims,
  onnxExternalTensor,
  onnxInlineTensor,
  onnxModel,
  onnxNode,
  tag,
  varintField,
} from '../../../helpers/protobuf';

/** The models written by PyTorch in ../shared/data (README.md there), when that folder is present. */
const SHARED_DATA = process.env.SPARSITY_LENS_SHARED_DATA ?? path.join(REPO, '..', 'shared', 'data');

const PROVENANCE = { 'sparsity_lens.method': 'magnitude', 'sparsity_lens.sparsity': '0.33' };

function onnxFieldOf(stored: StoredTensor): StoredOnnxField {
  let s = stored;
  while (s.kind === 'derived' && 'from' in s) s = s.from;
  assert.equal(s.kind, 'onnxField');
  return s as StoredOnnxField;
}

/** A tensor's analysed bytes (for float32 tensors, the stored element bytes). */
async function bytesOf(t: TensorEntry): Promise<Uint8Array> {
  return t.source.kind === 'inline' ? t.source.bytes : readSpan(t.source, 0, t.source.length);
}

/** `t`'s bytes with every third float32 element zeroed, as an edit of its stored field. */
async function zeroEveryThird(t: TensorEntry): Promise<StoredEdit> {
  assert.equal(t.dtype, 'float32', t.name);
  const bytes = (await bytesOf(t)).slice();
  for (let i = 0; i < bytes.length; i += 12) bytes.fill(0, i, i + 4);
  return { target: onnxFieldOf(t.stored), bytes };
}

/** A StringStringEntryProto as ModelProto.metadata_props (field 14). */
const metadataEntry = (key: string, value: string) => lenField(14, Buffer.concat([lenField(1, key), lenField(2, value)]));
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('onnx writer', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let count = 0;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());
  /** A new empty folder to write into. */
  const folder = () => {
    const dir = path.join(tmp.dir, `out${count++}`);
    mkdirSync(dir);
    return dir;
  };

  /** Writes `checkpoint` with `edits` into a new folder as `name`; returns the folder and the names written. */
  async function write(
    checkpoint: Checkpoint,
    edits: readonly StoredEdit[],
    name = 'pruned.onnx',
    provenance: Readonly<Record<string, string>> = PROVENANCE,
  ) {
    const dir = folder();
    const written = await writeOnnx({ checkpoint, edits, provenance, output: path.join(tmp.dir, 'final', name), folder: dir });
    assert.deepEqual(readdirSync(dir).sort(), [...written].sort(), 'the names returned are the files written');
    assert.equal(written[written.length - 1], name, 'the model comes last');
    return { dir, written, model: path.join(dir, name) };
  }

  /** Re-opens `output` and checks `edited`'s new bytes and every other tensor's unchanged bytes. */
  async function expectEdited(input: Checkpoint, output: string, edited: TensorEntry, newBytes: Uint8Array): Promise<Checkpoint> {
    const reopened = await openCheckpoint(output);
    assert.deepEqual(
      reopened.tensors.map((t) => t.name),
      input.tensors.map((t) => t.name),
    );
    for (const t of reopened.tensors) {
      const expected = t.name === edited.name ? newBytes : await bytesOf(input.tensors.find((i) => i.name === t.name)!);
      // Plain Uint8Arrays: deepEqual tells a Buffer from a Uint8Array.
      assert.deepEqual(new Uint8Array(await bytesOf(t)), new Uint8Array(expected), t.name);
    }
    return reopened;
  }

  const embeddedInputs = [
    ...(existsSync(path.join(SHARED_DATA, 'digits_mlp.onnx')) ? [path.join(SHARED_DATA, 'digits_mlp.onnx')] : []),
    fixture('digits_mlp.onnx'),
    fixture('generated', 'convnet.onnx'),
    fixture('generated', 'typed_fields.onnx'),
  ];
  for (const input of embeddedInputs) {
    it(`${path.relative(REPO, input)}: the edited weight reads back new, every other tensor as it was, byte for byte`, async () => {
      const checkpoint = await openCheckpoint(input);
      const weight = checkpoint.tensors.find((t) => t.role !== 'other' && t.dtype === 'float32')!;
      const edit = await zeroEveryThird(weight);
      const { model, written } = await write(checkpoint, [edit]);
      assert.deepEqual(written, ['pruned.onnx']);
      await expectEdited(checkpoint, model, weight, edit.bytes);

      // Independently: the input with the payload replaced, then the provenance entries.
      const expected = Buffer.from(readFileSync(input));
      expected.set(edit.bytes, onnxFieldOf(weight.stored).offset);
      const provenance = Object.entries(PROVENANCE).map(([k, v]) => metadataEntry(k, v));
      assert.ok(readFileSync(model).equals(Buffer.concat([expected, ...provenance])));
    });
  }

  it('float_data split over one field per value: the new bytes are spread over the fields in order', async () => {
    const values = [1.5, -2, 3.25, 4];
    const floatFields = values.map((v) => {
      const b = Buffer.alloc(4);
      b.writeFloatLE(v);
      return Buffer.concat([tag(4, 5), b]);
    });
    const tensor = Buffer.concat([onnxDims(4), varintField(2, ONNX_DTYPE.float), lenField(8, 'w'), ...floatFields]);
    const input = tmp.write('unpacked.onnx', onnxModel([], [tensor]));
    const checkpoint = await openCheckpoint(input);
    const w = checkpoint.tensors[0];
    const target = onnxFieldOf(w.stored);
    assert.equal(target.fields?.starts.length, 4);
    const bytes = new Uint8Array(new Float32Array([0, -2, 0, 8]).buffer);
    const { model } = await write(checkpoint, [{ target, bytes }]);
    await expectEdited(checkpoint, model, w, bytes);
    const expected = Buffer.from(readFileSync(input));
    target.fields!.starts.forEach((start, i) => expected.set(bytes.subarray(4 * i, 4 * i + 4), start));
    assert.ok(readFileSync(model).equals(Buffer.concat([expected, ...Object.entries(PROVENANCE).map(([k, v]) => metadataEntry(k, v))])));
  });

  it('metadata_props: other keys stay in place, provenance keys are replaced, never duplicated', async () => {
    const original = readFileSync(fixture('digits_mlp.onnx'));
    const input = tmp.write(
      'with-metadata.onnx',
      Buffer.concat([metadataEntry('author', 'someone'), metadataEntry('sparsity_lens.method', 'old'), original]),
    );
    const first = await write(await openCheckpoint(input), []);
    assert.ok(
      readFileSync(first.model).equals(
        Buffer.concat([
          metadataEntry('author', 'someone'),
          original,
          metadataEntry('sparsity_lens.method', 'magnitude'),
          metadataEntry('sparsity_lens.sparsity', '0.33'),
        ]),
      ),
    );
    // Re-pruning the pruned model.
    const again = { 'sparsity_lens.method': 'srigl', 'sparsity_lens.nm': '2:4' };
    const second = await write(await openCheckpoint(first.model), [], 'twice.onnx', again);
    assert.deepEqual(await metadataProps(second.model), [
      ['author', 'someone'],
      ['sparsity_lens.sparsity', '0.33'],
      ['sparsity_lens.method', 'srigl'],
      ['sparsity_lens.nm', '2:4'],
    ]);
  });

  it('external data: copied beside the output under its name, patched there, the input untouched', async () => {
    const input = fixture('generated', 'external', 'model.onnx');
    const inputData = fixture('generated', 'external', 'weights.bin');
    const before = [sha256(input), sha256(inputData)];
    const checkpoint = await openCheckpoint(input);
    const weight = checkpoint.tensors.find((t) => t.role === 'linear')!;
    assert.ok(onnxFieldOf(weight.stored).external);
    const edit = await zeroEveryThird(weight);
    const { dir, model, written } = await write(checkpoint, [edit]);
    assert.deepEqual(written, ['pruned.onnx.data', 'pruned.onnx']);
    assert.deepEqual([sha256(input), sha256(inputData)], before);

    const reopened = await expectEdited(checkpoint, model, weight, edit.bytes);
    const dataCopy = realpathSync(path.join(dir, 'pruned.onnx.data'));
    for (const t of reopened.tensors) assert.deepEqual(onnxFieldOf(t.stored).external, { model, location: 'pruned.onnx.data' }, t.name);
    assert.ok(reopened.tensors.every((t) => onnxFieldOf(t.stored).file === dataCopy));
    const expectedData = Buffer.from(readFileSync(inputData));
    expectedData.set(edit.bytes, onnxFieldOf(weight.stored).offset);
    assert.ok(readFileSync(dataCopy).equals(expectedData));
  });

  it('several external files: numbered in first-reference order, in initializers, Constant values, subgraphs and sparse initializers', async () => {
    const src = path.join(tmp.dir, 'several');
    mkdirSync(src);
    const floats = (...v: number[]) => Buffer.from(new Float32Array(v).buffer);
    writeFileSync(path.join(src, 'a.bin'), floats(1, 2, 3, 4, 5, 6));
    writeFileSync(path.join(src, 'b.bin'), floats(7, 8, 9));
    writeFileSync(path.join(src, 'c.bin'), floats(10));
    const constant = Buffer.concat([
      onnxNode('Constant', [], ['k']),
      lenField(
        5,
        Buffer.concat([
          lenField(1, 'value'),
          lenField(5, onnxExternalTensor('', ONNX_DTYPE.float, [3], 'b.bin', 0, 12)),
          varintField(20, 4),
        ]),
      ),
    ]);
    const subgraph = Buffer.concat([
      lenField(2, 'then'),
      lenField(5, onnxExternalTensor('sub.w', ONNX_DTYPE.float, [2], './a.bin', 16, 8)),
    ]);
    const ifNode = Buffer.concat([
      onnxNode('If', ['cond'], ['y']),
      lenField(5, Buffer.concat([lenField(1, 'then_branch'), lenField(6, subgraph), varintField(20, 5)])),
    ]);
    const sparse = lenField(
      15,
      Buffer.concat([
        lenField(1, onnxExternalTensor('s.values', ONNX_DTYPE.float, [1], 'c.bin', 0, 4)),
        lenField(2, onnxInlineTensor('s.indices', ONNX_DTYPE.int64, [1], Buffer.alloc(8))),
        varintField(3, 4),
      ]),
    );
    const graph = Buffer.concat([
      lenField(1, constant),
      lenField(1, ifNode),
      lenField(2, 'g'),
      lenField(5, onnxExternalTensor('w', ONNX_DTYPE.float, [4], 'a.bin', 0, 16)),
      lenField(5, onnxInlineTensor('bias', ONNX_DTYPE.float, [2], floats(0.5, -0.5))),
      sparse,
    ]);
    const input = path.join(src, 'model.onnx');
    writeFileSync(
      input,
      Buffer.concat([varintField(1, 8), lenField(7, graph), lenField(8, Buffer.concat([lenField(1, ''), varintField(2, 13)]))]),
    );

    const checkpoint = await openCheckpoint(input);
    const w = checkpoint.tensors.find((t) => t.name === 'w')!;
    const edit = { target: onnxFieldOf(w.stored), bytes: floats(0, 2, 0, 4) };
    const { dir, model, written } = await write(checkpoint, [edit], 'out.onnx');
    // b.bin is named first (the Constant node comes before the initializers), then a.bin (in the If body), then c.bin.
    assert.deepEqual(written, ['out.onnx.1.data', 'out.onnx.2.data', 'out.onnx.3.data', 'out.onnx']);
    assert.ok(readFileSync(path.join(dir, 'out.onnx.1.data')).equals(readFileSync(path.join(src, 'b.bin'))));
    assert.ok(readFileSync(path.join(dir, 'out.onnx.2.data')).equals(Buffer.concat([floats(0, 2, 0, 4), floats(5, 6)])));
    assert.ok(readFileSync(path.join(dir, 'out.onnx.3.data')).equals(readFileSync(path.join(src, 'c.bin'))));
    assert.deepEqual(readFileSync(path.join(src, 'a.bin')), floats(1, 2, 3, 4, 5, 6));

    const reopened = await expectEdited(checkpoint, model, w, edit.bytes);
    const locationOf = (name: string) => onnxFieldOf(reopened.tensors.find((t) => t.name === name)!.stored).external?.location;
    assert.deepEqual(['k', 'sub.w', 'w', 'bias'].map(locationOf), ['out.onnx.1.data', 'out.onnx.2.data', 'out.onnx.2.data', undefined]);
    // The sparse initializer is not read, but its location is renamed all the same.
    const text = readFileSync(model).toString('latin1');
    assert.ok(text.includes('out.onnx.3.data') && !/[abc]\.bin/.test(text));
  });

  it('varint-encoded values (int64_data) are refused before anything is written', async () => {
    const input = fixture('generated', 'typed_fields.onnx');
    const checkpoint = await openCheckpoint(input);
    const target = onnxFieldOf(checkpoint.tensors.find((t) => t.name === 'reshape.shape')!.stored);
    assert.equal(target.encoding, 'varint');
    const dir = folder();
    const writing = writeOnnx({
      checkpoint,
      edits: [{ target, bytes: new Uint8Array(target.length) }],
      provenance: PROVENANCE,
      output: path.join(dir, 'pruned.onnx'),
      folder: dir,
    });
    await assert.rejects(writing, (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      assert.equal(e.problem, 'unsupported');
      assert.equal(e.file, input);
      assert.match(e.message, /int64_data \(varint-encoded values\) is not supported/);
      return true;
    });
    assert.deepEqual(readdirSync(dir), []);
  });
});

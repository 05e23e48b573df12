import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { fixture, makeTempDir, reportOf } from '../../../helpers/fixtures';
import { expectCheckpointError } from '../../../helpers/errors';

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;

/** Splits a real safetensors file into its header object and its byte buffer. */
function splitSafetensors(file: string): { header: Header; buffer: Buffer } {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Header, buffer: bytes.subarray(8 + n) };
}

function joinSafetensors(headerText: string, buffer: Buffer): Buffer {
  const json = Buffer.from(headerText, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, buffer]);
}

describe('safetensors: bad input gives a typed error naming the file and the problem', () => {
  const real = fixture('digits_mlp.safetensors');
  const { header, buffer } = splitSafetensors(real);
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());

  const write = (name: string, bytes: Uint8Array) => tmp.write(name, bytes);
  function withHeader(name: string, edit: (h: Header) => void, data = buffer): string {
    const h = structuredClone(header);
    edit(h);
    return write(name, joinSafetensors(JSON.stringify(h), data));
  }

  it('rebuilding the real file unchanged still reads (the helpers are sound)', async () => {
    const report = await reportOf(withHeader('same.safetensors', () => {}));
    assert.equal(report.layers.find((l) => l.name === 'fc1.weight')?.nnz, 16384);
  });

  it('an empty file', async () => {
    await expectCheckpointError(write('empty.safetensors', Buffer.alloc(0)), 'empty', /empty/);
  });

  it('a file shorter than the 8-byte length prefix', async () => {
    await expectCheckpointError(write('tiny.safetensors', Buffer.from([1, 2, 3])), 'truncated', /no safetensors header length/);
  });

  it('a header length beyond the end of the file', async () => {
    const bytes = Buffer.from(readFileSync(real));
    bytes.writeBigUInt64LE(BigInt(bytes.length)); // claims more header than the file holds
    const e = await expectCheckpointError(write('long-header.safetensors', bytes), 'truncated', /header length \d+ runs past the end/);
    assert.equal(e.offset, 0);
  });

  it('an absurd header length (2^63) is refused before any allocation', async () => {
    const bytes = Buffer.from(readFileSync(real));
    bytes.writeBigUInt64LE(1n << 63n);
    await expectCheckpointError(
      write('absurd.safetensors', bytes),
      'corrupt',
      /: not a safetensors file: its first 8 bytes are not a header length \(they read as \d+, over the limit of 100000000 bytes\) \(at byte 0\)$/,
    );
  });

  it('a truncated file (tensor data cut off)', async () => {
    const bytes = readFileSync(real);
    await expectCheckpointError(
      write('cut.safetensors', bytes.subarray(0, bytes.length - 1000)),
      'truncated',
      /data_offsets \[\d+, \d+\] run past the \d+-byte data buffer/,
    );
  });

  it('a file cut inside the header', async () => {
    const bytes = readFileSync(real);
    await expectCheckpointError(write('cut-header.safetensors', bytes.subarray(0, 100)), 'truncated', /runs past the end/);
  });

  it('trailing bytes that belong to no tensor', async () => {
    const bytes = Buffer.concat([readFileSync(real), Buffer.alloc(16)]);
    await expectCheckpointError(write('trailing.safetensors', bytes), 'corrupt', /16 bytes after the last tensor belong to no tensor/);
  });

  it('overlapping tensors', async () => {
    const file = withHeader('overlap.safetensors', (h) => {
      const t = h['fc1.bias'] as { data_offsets: [number, number] };
      const w = h['fc1.weight'] as { data_offsets: [number, number] };
      w.data_offsets = [t.data_offsets[0] + 4, t.data_offsets[0] + 4 + 65536];
    });
    await expectCheckpointError(file, 'corrupt', /overlaps|hole/);
  });

  it('a hole between tensors', async () => {
    const file = withHeader(
      'hole.safetensors',
      (h) => {
        const b = h['fc3.bias'] as { data_offsets: [number, number] };
        b.data_offsets = [b.data_offsets[0] + 4, b.data_offsets[1] + 4];
      },
      Buffer.concat([buffer, Buffer.alloc(4)]),
    );
    await expectCheckpointError(file, 'corrupt', /a hole of 4 bytes precedes tensor "fc3.bias"/);
  });

  it('offsets out of range of the file', async () => {
    const file = withHeader('out-of-range.safetensors', (h) => {
      const w = h['fc2.weight'] as { data_offsets: [number, number] };
      w.data_offsets = [w.data_offsets[0] + 1_000_000, w.data_offsets[1] + 1_000_000];
    });
    await expectCheckpointError(file, 'truncated', /tensor "fc2.weight": data_offsets \[\d+, \d+\] run past the 203304-byte data buffer/);
  });

  it('a byte length that does not match shape × dtype size', async () => {
    const file = withHeader('mismatch.safetensors', (h) => {
      (h['fc1.weight'] as { shape: number[] }).shape = [256, 63];
    });
    await expectCheckpointError(
      file,
      'corrupt',
      /tensor "fc1.weight": data_offsets span 65536 bytes but shape \[256, 63\] of float32 needs 64512/,
    );
  });

  it('an unknown dtype', async () => {
    const file = withHeader('dtype.safetensors', (h) => {
      (h['fc1.bias'] as { dtype: string }).dtype = 'F33';
    });
    await expectCheckpointError(file, 'corrupt', /tensor "fc1.bias": unknown dtype "F33"/);
  });

  it('a header that is not JSON', async () => {
    const text = JSON.stringify(header);
    await expectCheckpointError(write('json.safetensors', joinSafetensors(text.slice(0, -1) + ' ', buffer)), 'corrupt', /not valid JSON/);
  });

  it('duplicate tensor names', async () => {
    const text = JSON.stringify(header);
    const entry = JSON.stringify(header['fc1.bias']);
    const dup = text.replace(/^\{/, `{"fc1.bias":${entry},`);
    await expectCheckpointError(write('dup.safetensors', joinSafetensors(dup, buffer)), 'corrupt', /duplicate tensor name "fc1.bias"/);
  });

  it('__metadata__ with a non-string value', async () => {
    const file = withHeader('meta.safetensors', (h) => {
      (h.__metadata__ as Record<string, unknown>).format = 3;
    });
    await expectCheckpointError(file, 'corrupt', /__metadata__.format is not a string/);
  });

  it('a header padded with spaces, as the format allows, reads fine', async () => {
    const report = await reportOf(write('padded.safetensors', joinSafetensors(JSON.stringify(header) + '       ', buffer)));
    assert.equal(report.weights.nnz, 16384 + 32768 + 1280);
  });
});

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { CheckpointError, headline } from '../../src/core/errors';
import { openCheckpoint } from '../../src/core/formats/registry';
import { fixture, makeTempDir, REPO } from '../helpers/fixtures';

/** The error opening `file` gives. */
async function errorOf(file: string): Promise<CheckpointError> {
  const e = await openCheckpoint(file).then(
    () => assert.fail(`${file} should be refused`),
    (error: unknown) => error,
  );
  assert.ok(e instanceof CheckpointError, String(e));
  return e;
}

/** A protobuf varint at `at`, decoded here byte by byte. */
function varint(bytes: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  let shift = 1;
  for (let i = at; ; i++) {
    value += (bytes[i] & 0x7f) * shift;
    shift *= 128;
    if (bytes[i] < 0x80) return { value, next: i + 1 };
  }
}

const kib = (n: number) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`);

describe('errors a user understands: one sentence, the parser’s words kept for the log', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());

  it('a truncated ONNX file: where the file ends and how far its graph needs it to go', async () => {
    const whole = readFileSync(`${REPO}/examples/digits_mlp_24.onnx`);
    // ModelProto: the graph is field 7, a length-delimited field; find its tag (0x3a) and length.
    let at = 0;
    let graphEnd = 0;
    while (at < whole.length) {
      const tag = varint(whole, at);
      const wire = tag.value & 7;
      if (wire === 0) at = varint(whole, tag.next).next;
      else if (wire === 2) {
        const len = varint(whole, tag.next);
        if (tag.value >> 3 === 7) {
          graphEnd = len.next + len.value;
          break;
        }
        at = len.next + len.value;
      } else assert.fail(`wire type ${wire} at ${at}`);
    }
    const cut = tmp.write('cut.onnx', whole.subarray(0, 30_000));
    const e = await errorOf(cut);
    assert.equal(headline(e), `Truncated: the file ends at ${kib(30_000)} but its graph needs ${kib(graphEnd)}.`);
    assert.match(e.message, /malformed protobuf: field 7 declares \d+ bytes runs past its message or the file/, 'the detail stays');
  });

  it('a truncated safetensors file, and a file that is not one', async () => {
    const whole = readFileSync(fixture('digits_mlp_24.safetensors'));
    const headerLength = Number(whole.readBigUInt64LE(0));
    const cut = tmp.write('cut.safetensors', whole.subarray(0, 100));
    assert.equal(headline(await errorOf(cut)), `Truncated: the file ends at 100 B but its header needs ${kib(8 + headerLength)}.`);
    const text = tmp.write('notes.safetensors', Buffer.from('hello world, this is text\n'));
    assert.equal(headline(await errorOf(text)).split(' (')[0], 'Not a safetensors file: its first 8 bytes are not a header length');
  });

  it('a truncated .pt (a zip) says what is missing, not the zip record’s name', async () => {
    const cut = tmp.write('cut.pt', readFileSync(`${REPO}/examples/digits_mlp_unstructured80.pt`).subarray(0, 5000));
    assert.equal(
      headline(await errorOf(cut)),
      'Not a complete zip archive: it has no zip directory at its end (the file is truncated, or is not a zip).',
    );
  });
});

import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { DerivedBytesBudget } from '../../../../src/core/derivedBytes';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { readPyTorch } from '../../../../src/core/formats/pytorch/reader';
import { readZipDirectory, readZipMember } from '../../../../src/core/formats/shared/zip';
import { withFile } from '../../../../src/core/randomAccessFile';
import { fixture, makeTempDir, reportOf } from '../../../helpers/fixtures';
import { expectCheckpointError } from '../../../helpers/errors';
import { pk, statePickle, storedZip } from '../../../helpers/writers';

const expected = JSON.parse(readFileSync(fixture('pytorch', 'expected.json'), 'utf8')) as { conventions: { marker: string } };
/** The file the hostile fixtures' payloads would create (os.system('touch …'), eval, Popen). */
const MARKER = expected.conventions.marker;

/** The records of a real torch.save zip, read with the project's zip module. */
async function zipRecords(file: string): Promise<[string, Uint8Array][]> {
  return withFile(file, async (f) => {
    const out: [string, Uint8Array][] = [];
    for (const entry of await readZipDirectory(f)) out.push([entry.name, await readZipMember(f, entry, 1 << 24)]);
    return out;
  });
}

function floats(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** The three header pickles of a legacy torch.save file, as torch writes them. */
const LEGACY_HEADER = (() => {
  const bytes = readFileSync(fixture('pytorch', 'hostile', 'posix_system.pt'));
  return bytes.subarray(0, bytes.indexOf(Buffer.from('cposix')) - 2); // up to the object pickle's PROTO
})();

describe('PyTorch: hostile and broken checkpoints give typed errors naming the file, and run nothing', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => {
    tmp = makeTempDir();
    rmSync(MARKER, { force: true });
  });
  after(() => {
    tmp.remove();
    assert.equal(existsSync(MARKER), false, `nothing created ${MARKER}`);
  });

  const write = (name: string, bytes: Uint8Array) => tmp.write(name, bytes);

  for (const [file, module] of [
    ['os_system.pt', 'os.system'],
    ['posix_system.pt', 'posix.system'],
    ['builtins_eval.pt', 'builtins.eval'],
    ['subprocess_popen.pt', 'subprocess.Popen'],
    ['reduce_in_state_dict.pt', 'posix.system'],
  ]) {
    it(`${file}: refused as unsafe, naming ${module}, and its payload never ran`, async () => {
      await expectCheckpointError(
        fixture('pytorch', 'hostile', file),
        'unsafe',
        new RegExp(`imports ${module.replace('.', '\\.')}.*ran nothing`),
      );
      assert.equal(existsSync(MARKER), false, `${MARKER} does not exist`);
    });
  }

  it('absurd sizes in data.pkl: a memo index never stored, a 4 GB FRAME, a 4 GB BINUNICODE', async () => {
    await expectCheckpointError(fixture('pytorch', 'hostile', 'memo_index.pt'), 'corrupt', /memo index 4294967295 was never stored/);
    await expectCheckpointError(fixture('pytorch', 'hostile', 'frame_4gb.pt'), 'corrupt', /FRAME declares 4294967296 bytes/);
    const e = await expectCheckpointError(
      fixture('pytorch', 'hostile', 'binunicode_4gb.pt'),
      'corrupt',
      /binunicode_4gb\/data\.pkl: BINUNICODE declares 4294967295 bytes/,
    );
    assert.ok(e.offset !== undefined && e.offset > 30, 'the offset is inside the file, at the opcode');
  });

  it('a legacy file whose object pickle is a recursion bomb of 100,000 MARK / EMPTY_LIST', async () => {
    const bomb = Buffer.alloc(200_000);
    for (let i = 0; i < 100_000; i++) bomb.set([0x28, 0x5d], 2 * i);
    await expectCheckpointError(
      write('bomb.pt', Buffer.concat([LEGACY_HEADER, Buffer.from([0x80, 0x02]), bomb])),
      'unsafe',
      /nested MARKs/,
    );
  });

  it('a legacy file of endless opcodes without STOP ends in a truncation error, not a hang', async () => {
    const endless = Buffer.from('N0'.repeat(2_000_000), 'latin1'); // 4 MB: several window growths
    await expectCheckpointError(
      write('endless.pt', Buffer.concat([LEGACY_HEADER, Buffer.from([0x80, 0x02]), endless])),
      'truncated',
      /the object pickle ends in the middle/,
    );
  });

  it('an exponentially shared object graph (a billion laughs) is refused when flattening', async () => {
    // L0 = [], L(i) = [L(i-1), L(i-1)], 60 times; the state dict holds L60: 2^60 paths.
    const parts = [Buffer.from([0x80, 0x02, 0x7d]), pk.str('w'), Buffer.from(']q\x000', 'latin1')];
    for (let i = 1; i <= 60; i++) parts.push(Buffer.from([0x5d, 0x28, 0x68, i - 1, 0x68, i - 1, 0x65, 0x71, i, ...(i < 60 ? [0x30] : [])]));
    parts.push(Buffer.from('s.'));
    const file = write('laughs.pt', storedZip([['laughs/data.pkl', Buffer.concat(parts)]]));
    await expectCheckpointError(file, 'unsafe', /object graph expands to more than/);
  });

  it('a list nested 100,000 deep as the whole checkpoint reads as no tensors, without a stack overflow', async () => {
    const n = 100_000;
    const deep = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.alloc(n, 0x5d), Buffer.alloc(n - 1, 0x61), Buffer.from('.')]);
    const checkpoint = await openCheckpoint(write('deep.pt', storedZip([['deep/data.pkl', deep]])));
    assert.equal(checkpoint.tensors.length, 0);
  });

  describe('zip format', () => {
    const mlp = fixture('pytorch', 'mlp.pt');
    let records: [string, Uint8Array][];
    before(async () => (records = await zipRecords(mlp)));
    const edited = (edit: (name: string, data: Uint8Array) => Uint8Array | undefined) =>
      storedZip(
        records.flatMap(([name, data]) => {
          const out = edit(name, data);
          return out ? [[name, out] as const] : [];
        }),
      );

    it('rebuilding the real file unchanged still reads (the helpers are sound)', async () => {
      const report = await reportOf(
        write(
          'same.pt',
          edited((_, d) => d),
        ),
      );
      assert.equal(report.layers.find((l) => l.name === 'fc1.weight')?.nnz, 154);
    });

    it('data.pkl cut in half', async () => {
      const file = write(
        'cut.pt',
        edited((n, d) => (n.endsWith('data.pkl') ? d.subarray(0, d.length >> 1) : d)),
      );
      await expectCheckpointError(file, 'truncated', /mlp\/data\.pkl ends in the middle of a pickle/);
    });

    it('a data/<key> record missing from the archive', async () => {
      const file = write(
        'missing.pt',
        edited((n, d) => (n === 'mlp/data/2' ? undefined : d)),
      );
      await expectCheckpointError(file, 'corrupt', /storage record mlp\/data\/2, which the archive lacks/);
    });

    it('a storage record shorter than its declared element count', async () => {
      const file = write(
        'short.pt',
        edited((n, d) => (n === 'mlp/data/0' ? d.subarray(0, 100) : d)),
      );
      await expectCheckpointError(file, 'truncated', /storage mlp\/data\/0 holds 100 bytes but its tensors declare 288 elements/);
    });

    it('a data.pkl byte flipped in place fails the CRC-32 check', async () => {
      const bytes = Buffer.from(readFileSync(mlp));
      const at = bytes.indexOf(Buffer.from('FloatStorage'));
      bytes[at] ^= 0xff;
      await expectCheckpointError(write('crc.pt', bytes), 'corrupt', /CRC-32/);
    });

    it('an unknown opcode in data.pkl is corrupt, at its offset in the file', async () => {
      const pickle = Buffer.from([0x80, 0x02, 0x7d, 0xfe, 0x2e]);
      const file = write('opcode.pt', storedZip([['x/data.pkl', pickle]]));
      const e = await expectCheckpointError(file, 'corrupt', /x\/data\.pkl: unknown pickle opcode 0xfe/);
      assert.equal(e.offset, 30 + 'x/data.pkl'.length + 3);
    });

    it('a view that needs more elements than its storage holds', async () => {
      const pickle = statePickle([{ name: 'w.weight', key: '0', numel: 50, offset: 0, size: [10, 10], stride: [10, 1] }]);
      const file = write(
        'view.pt',
        storedZip([
          ['v/data.pkl', pickle],
          ['v/data/0', floats(new Array(50).fill(1))],
        ]),
      );
      await expectCheckpointError(
        file,
        'corrupt',
        /tensor "w\.weight" \[10, 10\] at offset 0 with strides \[10, 1\] needs element 99 of storage v\/data\/0, which holds 50/,
      );
    });

    it('tensor arguments of the wrong kind are corrupt, naming the tensor', async () => {
      const pickle = statePickle([{ name: 'w.weight', key: '0', numel: 4, offset: -1, size: [2, 2], stride: [2, 1] }]);
      const file = write(
        'negative.pt',
        storedZip([
          ['v/data.pkl', pickle],
          ['v/data/0', floats([1, 2, 3, 4])],
        ]),
      );
      await expectCheckpointError(file, 'corrupt', /tensor "w\.weight": the storage offset is not a non-negative integer/);
    });

    it('hand-built views: an offset slice is a file range, a strided view is gathered in the right order', async () => {
      const pickle = statePickle([
        { name: 'slice.weight', key: '0', numel: 12, offset: 4, size: [2, 4], stride: [4, 1] },
        { name: 'transposed.weight', key: '0', numel: 12, offset: 0, size: [4, 3], stride: [1, 4] },
      ]);
      const storage = floats([0, 1, 2, 3, 4, 0, 6, 0, 8, 9, 10, 11]);
      const checkpoint = await openCheckpoint(
        write(
          'views.pt',
          storedZip([
            ['v/data.pkl', pickle],
            ['v/data/0', storage],
          ]),
        ),
      );
      const slice = checkpoint.tensors.find((t) => t.name === 'slice.weight')!;
      assert.equal(slice.source.kind, 'file');
      const transposed = checkpoint.tensors.find((t) => t.name === 'transposed.weight')!;
      assert.equal(transposed.source.kind, 'inline');
      if (transposed.source.kind === 'inline') {
        assert.deepEqual(
          Array.from(new Float32Array(transposed.source.bytes.buffer, transposed.source.bytes.byteOffset, 12)),
          [0, 4, 8, 1, 0, 9, 2, 6, 10, 3, 0, 11],
        );
      }
      const report = await reportOf(
        write(
          'views2.pt',
          storedZip([
            ['v/data.pkl', pickle],
            ['v/data/0', storage],
          ]),
        ),
      );
      assert.deepEqual(report.layers.find((l) => l.name === 'transposed.weight')!.fanIn, {
        dense: 3,
        min: 2,
        max: 3,
        mean: 9 / 4,
        constant: false,
        k: null,
        zeroNeurons: 0,
      });
    });

    it('_rebuild_tensor_v3 on an UntypedStorage takes its dtype from the call (float16, float8_e4m3fn)', async () => {
      const pickle = statePickle([
        { name: 'h.weight', key: '0', numel: 16, offset: 0, size: [2, 4], stride: [4, 1], untypedAs: 'float16' },
        { name: 'f8.weight', key: '1', numel: 6, offset: 2, size: [2, 2], stride: [2, 1], untypedAs: 'float8_e4m3fn' },
      ]);
      const half = new Uint8Array(new Uint16Array([0x3c00, 0, 0x8000, 0x4000, 0, 0, 0x3c00, 0]).buffer);
      const f8 = Uint8Array.of(0x38, 0x38, 0x38, 0x00, 0x80, 0x40); // 1.0 as e4m3fn is 0x38; 0x80 is -0
      const report = await reportOf(
        write(
          'v3.pt',
          storedZip([
            ['v/data.pkl', pickle],
            ['v/data/0', half],
            ['v/data/1', f8],
          ]),
        ),
      );
      const h = report.layers.find((l) => l.name === 'h.weight')!;
      assert.deepEqual([h.dtype, h.nnz, h.negativeZeros, h.fanIn?.min, h.fanIn?.max], ['float16', 3, 1, 1, 2]);
      const e = report.layers.find((l) => l.name === 'f8.weight')!;
      assert.deepEqual([e.dtype, e.shape, e.nnz, e.negativeZeros], ['float8_e4m3fn', [2, 2], 2, 1]);
    });

    it('an archive whose first member is outside the record folder still finds <folder>/data.pkl', async () => {
      const report = await reportOf(write('readme-first.pt', storedZip([['README.txt', Buffer.from('notes')], ...records])));
      assert.equal(report.metadata['record prefix'], 'mlp');
      assert.equal(report.layers.find((l) => l.name === 'fc1.weight')?.nnz, 154);
    });

    it('a byteorder record that is neither little nor big', async () => {
      const file = write(
        'byteorder.pt',
        storedZip([...records.slice(0, 1), ['mlp/byteorder', Buffer.from('middle')], ...records.slice(1)]),
      );
      await expectCheckpointError(file, 'corrupt', /byteorder record says "middle"/);
    });

    it('a zip without data.pkl (an .npz renamed .pt) is not taken for a checkpoint', async () => {
      const file = write('numpy.pt', readFileSync(fixture('numpy', 'mlp.npz')));
      await expectCheckpointError(file, 'unknown-format', /without data\.pkl/);
    });
  });

  describe('legacy format', () => {
    const legacy = readFileSync(fixture('pytorch', 'mlp_legacy.pt'));

    it('cut inside the storages: the missing storage and the bytes it needs are named', async () => {
      const e = await expectCheckpointError(
        write('cut-storage.pt', legacy.subarray(0, legacy.length - 100)),
        'truncated',
        /storage \d+ needs bytes \d+\.\.\d+ \(\d+ × 4\) but the file has \d+/,
      );
      assert.ok(e.offset !== undefined);
    });

    // The tail holds the six storages: an int64 count, then 4 bytes per element.
    const storagesStart = legacy.length - ((288 + 8 + 768 + 24 + 240 + 10) * 4 + 6 * 8);

    it('cut right after the key list, before the first element count', async () => {
      await expectCheckpointError(
        write('cut-count.pt', legacy.subarray(0, storagesStart + 3)),
        'truncated',
        /ends before the element count of storage/,
      );
    });

    it('cut inside the object pickle', async () => {
      await expectCheckpointError(
        write('cut-pickle.pt', legacy.subarray(0, 400)),
        'truncated',
        /the object pickle ends in the middle of a pickle/,
      );
    });

    it('an element count that disagrees with the persistent id', async () => {
      const bytes = Buffer.from(legacy);
      bytes.writeBigInt64LE(bytes.readBigInt64LE(storagesStart) + 1n, storagesStart);
      await expectCheckpointError(write('count.pt', bytes), 'corrupt', /records \d+ elements but its persistent id declares \d+/);
    });

    it('hand-built: storage views of the 6-field persistent id and int64 counts before each storage', async () => {
      // Root storage "r" of 12 floats; "a" views it from element 4 (8 elements); "s" is separate.
      const object = statePickle([
        { name: 'viewed.weight', key: 'r', numel: 12, offset: 0, size: [2, 4], stride: [4, 1], legacyView: ['a', 4, 8] },
        { name: 'whole.weight', key: 'r', numel: 12, offset: 0, size: [3, 4], stride: [4, 1], legacyView: null },
        { name: 'other.weight', key: 's', numel: 2, offset: 0, size: [1, 2], stride: [2, 1], legacyView: null },
      ]);
      const keys = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('('), pk.str('r'), pk.str('s'), Buffer.from('l.')]);
      const count = (n: number) => {
        const b = Buffer.alloc(8);
        b.writeBigInt64LE(BigInt(n));
        return b;
      };
      const root = floats([0, 0, 0, 0, 1, 0, 2, 0, 3, 4, 0, 0]);
      const file = write('views-legacy.pt', Buffer.concat([LEGACY_HEADER, object, keys, count(12), root, count(2), floats([5, 0])]));
      const report = await reportOf(file);
      const figures = Object.fromEntries(report.layers.map((l) => [l.name, [l.shape, l.nnz, l.fanIn?.min, l.fanIn?.max]]));
      assert.deepEqual(figures, {
        'viewed.weight': [[2, 4], 4, 2, 2],
        'whole.weight': [[3, 4], 4, 0, 2],
        'other.weight': [[1, 2], 1, 1, 1],
      });
      assert.equal(report.metadata['pytorch format'], 'legacy');
      // A big-endian machine: sys_info says little_endian False, but torch still writes counts and
      // storages little-endian (THPStorage_writeFileRaw converts), so nothing is swapped.
      const bigHeader = Buffer.from(LEGACY_HEADER);
      const flag = bigHeader.indexOf(Buffer.from('little_endian')) + 'little_endian'.length;
      assert.equal(bigHeader[flag + 2], 0x88, 'NEWTRUE after the key and its BINPUT');
      bigHeader[flag + 2] = 0x89;
      const fromBigMachine = await reportOf(
        write('views-big-machine.pt', Buffer.concat([bigHeader, object, keys, count(12), root, count(2), floats([5, 0])])),
      );
      assert.equal(fromBigMachine.metadata['byteorder'], 'little');
      assert.match(fromBigMachine.metadata['writer byteorder'], /^big/);
      assert.deepEqual(
        Object.fromEntries(fromBigMachine.layers.map((l) => [l.name, [l.shape, l.nnz, l.fanIn?.min, l.fanIn?.max]])),
        figures,
      );
      assert.ok(fromBigMachine.layers.every((l) => l.note === undefined));
      // Big-endian counts are accepted only from a writer that says it is big-endian (and then its bytes are too).
      const swapped = (b: Uint8Array) => Buffer.from(b).swap32();
      const countBE = (n: number) => {
        const b = Buffer.alloc(8);
        b.writeBigInt64BE(BigInt(n));
        return b;
      };
      const big = write(
        'views-big.pt',
        Buffer.concat([bigHeader, object, keys, countBE(12), swapped(root), countBE(2), swapped(floats([5, 0]))]),
      );
      const bigReport = await reportOf(big);
      assert.equal(bigReport.metadata['byteorder'], 'big');
      assert.deepEqual(Object.fromEntries(bigReport.layers.map((l) => [l.name, [l.shape, l.nnz, l.fanIn?.min, l.fanIn?.max]])), figures);
      assert.ok(bigReport.layers.every((l) => l.note === 'byte-swapped from big-endian'));
      await expectCheckpointError(
        write('views-big-counts.pt', Buffer.concat([LEGACY_HEADER, object, keys, countBE(12), root, countBE(2), floats([5, 0])])),
        'corrupt',
        /storage r records 864691128455135232 elements but its persistent id declares 12/,
      );
      // A key list naming a storage that no tensor refers to.
      const twice = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('('), pk.str('r'), pk.str('t'), Buffer.from('l.')]);
      await expectCheckpointError(
        write('unknown-key.pt', Buffer.concat([LEGACY_HEADER, object, twice, count(12), root])),
        'corrupt',
        /storage t is listed but no tensor refers to it/,
      );
    });

    it('an unknown legacy protocol version', async () => {
      const bytes = Buffer.from(legacy);
      const at = LEGACY_HEADER.indexOf(Buffer.from([0x4d, 0xe9, 0x03])); // BININT2 1001
      bytes.writeUInt16LE(1002, at + 1);
      await expectCheckpointError(write('protocol.pt', bytes), 'unsupported', /legacy torch\.save protocol 1002/);
    });
  });

  describe('detection', () => {
    it('an empty .pt file', async () => {
      await expectCheckpointError(write('empty.pt', new Uint8Array(0)), 'empty', /empty/);
    });

    it('a .bin that is neither format (ONNX external data) is an unknown format', async () => {
      await expectCheckpointError(write('weights.bin', floats([1, 2, 3, 4, 5])), 'unknown-format', /not a PyTorch checkpoint/);
    });

    it('the legacy magic is recognised whatever the extension; a torch zip opens under an unknown extension', async () => {
      const legacy = await openCheckpoint(write('model.weights', readFileSync(fixture('pytorch', 'mlp_legacy.pt'))));
      assert.equal(legacy.format, 'pytorch');
      const zip = await openCheckpoint(write('model.torch', readFileSync(fixture('pytorch', 'mlp.pt'))));
      assert.equal(zip.format, 'pytorch');
      assert.equal(zip.metadata['record prefix'], 'mlp');
    });
  });

  describe('memory and work limits, and tensors that must not vanish or be misread', () => {
    const hooks = Buffer.concat([pk.global('collections', 'OrderedDict'), Buffer.from(')R')]);
    /** A persistent id tuple ('storage', torch.<type>, key, location, numel), loaded with BINPERSID. */
    const storageId = (type: string, key: string, numel: number, location: Buffer = pk.str('cpu')) =>
      Buffer.concat([pk.tuple(pk.str('storage'), pk.global('torch', type), pk.str(key), location, pk.int(numel)), Buffer.from('Q')]);
    /** _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()). */
    const tensorCall = (storage: Buffer, offset: number, size: number[], stride: number[]) =>
      Buffer.concat([
        pk.global('torch._utils', '_rebuild_tensor_v2'),
        pk.tuple(storage, pk.int(offset), pk.tuple(...size.map(pk.int)), pk.tuple(...stride.map(pk.int)), Buffer.from([0x89]), hooks),
        Buffer.from('R'),
      ]);
    /** A protocol-2 dict pickle of (key pickle, value pickle) pairs. */
    const dictPickle = (...items: [Buffer, Buffer][]) =>
      Buffer.concat([Buffer.from([0x80, 0x02, 0x7d, 0x28]), ...items.flat(), Buffer.from('u.')]);
    /** Protocol 2 TUPLE1 applied `depth` times: a value nested `depth` tuples deep. */
    const nested = (inner: Buffer, depth: number) => Buffer.concat([inner, Buffer.alloc(depth, 0x85)]);
    const open = (file: string, budget?: DerivedBytesBudget) => withFile(file, (f) => readPyTorch(f, budget));

    it('a dict key and a storage location nested 100,000 tuples deep: a short name, or a corrupt id, never a stack overflow', async () => {
      const deepKey = dictPickle(
        [nested(pk.str('k'), 100_000), tensorCall(storageId('FloatStorage', '0', 2), 0, [2], [1])],
        [nested(pk.str('j'), 100_000), Buffer.from('N')],
      );
      const checkpoint = await openCheckpoint(
        write(
          'deep-key.pt',
          storedZip([
            ['d/data.pkl', deepKey],
            ['d/data/0', floats([1, 0])],
          ]),
        ),
      );
      assert.deepEqual(
        checkpoint.tensors.map((t) => t.name),
        ['((((…))))'],
      );
      const deepLocation = dictPickle([
        pk.str('w'),
        tensorCall(storageId('FloatStorage', '0', 2, nested(pk.str('cpu'), 100_000)), 0, [2], [1]),
      ]);
      await expectCheckpointError(
        write(
          'deep-location.pt',
          storedZip([
            ['d/data.pkl', deepLocation],
            ['d/data/0', floats([1, 0])],
          ]),
        ),
        'corrupt',
        /storage 0 has a location that is not a string/,
      );
      const deepKind = dictPickle([pk.str('w'), Buffer.concat([pk.tuple(nested(pk.str('storage'), 100_000)), Buffer.from('Q')])]);
      await expectCheckpointError(
        write('deep-kind.pt', storedZip([['d/data.pkl', deepKind]])),
        'corrupt',
        /unknown persistent id type "\(\(\(\(…\)\)\)\)"/,
      );
    });

    it('one large list shared many times is charged per item at every visit, and refused quickly', async () => {
      // x = list of 1,000,000 None, memoized; the root is [x] * 20: 20 million items to walk.
      const n = 1_000_000;
      const pickle = Buffer.concat([
        Buffer.from([0x80, 0x02, 0x5d, 0x94, 0x28]),
        Buffer.alloc(n, 0x4e),
        Buffer.from([0x65, 0x30, 0x28]),
        Buffer.from('h\x00'.repeat(20), 'latin1'),
        Buffer.from('l.'),
      ]);
      const started = Date.now();
      await expectCheckpointError(
        write('shared-list.pt', storedZip([['s/data.pkl', pickle]])),
        'unsafe',
        /object graph expands to more than \d+ containers, items and tensors/,
      );
      assert.ok(Date.now() - started < 5000, 'refused within seconds');
    });

    it('a small pickle that calls list() on one memoized list again and again is refused as a memory bomb', async () => {
      // l = [0] * 10,000 memoized; then 1,000 × root.append(list(l)): 10 million items from 26 kB.
      const pickle = Buffer.concat([
        Buffer.from([0x80, 0x02, 0x5d, 0x5d, 0x94, 0x28]),
        Buffer.alloc(20_000, 0).map((_, i) => (i % 2 === 0 ? 0x4b : 0)), // BININT1 0, 10,000 times
        Buffer.from([0x65, 0x30]),
        pk.global('__builtin__', 'list'),
        Buffer.from([0x94, 0x30]),
        Buffer.from('h\x01h\x00\x85Ra'.repeat(1000), 'latin1'),
        Buffer.from('.'),
      ]);
      await expectCheckpointError(
        write('list-bomb.pt', storedZip([['b/data.pkl', pickle]])),
        'unsafe',
        /calls such as __builtin__\.list\(\) create more than \d+ items.*memory bomb/,
      );
    });

    it('deflated storages are inflated within the memory budget: one record too large, then the total used up', async () => {
      const state = dictPickle(
        [pk.str('a'), tensorCall(storageId('FloatStorage', '0', 150), 0, [150], [1])],
        [pk.str('b'), tensorCall(storageId('FloatStorage', '1', 150), 0, [150], [1])],
        [pk.str('huge'), tensorCall(storageId('FloatStorage', '2', 2), 0, [2], [1])],
      );
      const values = floats(Array.from({ length: 150 }, (_, i) => i % 3));
      const file = write(
        'deflated.pt',
        storedZip([
          ['z/data.pkl', state],
          ['z/data/0', values, { deflate: true }],
          ['z/data/1', values, { deflate: true }],
          // Declares 1.5 GiB: refused before a byte is inflated.
          ['z/data/2', floats([1, 2]), { deflate: true, declaredSize: 1.5 * 2 ** 30 }],
        ]),
      );
      const checkpoint = await open(file, new DerivedBytesBudget(1000));
      assert.deepEqual(
        checkpoint.tensors.map((t) => [t.name, t.source.kind]),
        [['a', 'inline']],
      );
      assert.deepEqual(
        checkpoint.skipped.map((s) => s.name),
        ['b', 'huge'],
      );
      assert.match(
        checkpoint.skipped[0].reason,
        /zip member "z\/data\/1" needs a 600 B copy, and the copies made for this file would pass 1000 B/,
      );
      assert.match(checkpoint.skipped[1].reason, /needs a 1\.5 GiB copy, over the 1\.0 GiB limit per tensor/);
      const report = await reportOf(file);
      assert.deepEqual(
        report.layers.map((l) => [l.name, l.nnz]),
        [
          ['a', 100],
          ['b', 100],
        ],
      );
    });

    it('gathered views share the budget; an expanded (stride 0) view is listed, never materialized', async () => {
      const state = dictPickle(
        [pk.str('t1'), tensorCall(storageId('FloatStorage', '0', 12), 0, [4, 3], [1, 4])],
        [pk.str('t2'), tensorCall(storageId('FloatStorage', '0', 12), 0, [4, 3], [1, 4])],
        [pk.str('expanded'), tensorCall(storageId('FloatStorage', '0', 12), 0, [2 ** 20, 12], [0, 1])],
      );
      const file = write(
        'gathered.pt',
        storedZip([
          ['g/data.pkl', state],
          ['g/data/0', floats([0, 1, 2, 3, 4, 0, 6, 0, 8, 9, 10, 11])],
        ]),
      );
      // Each transposed copy reads 48 bytes and writes 48: the second one does not fit in 150.
      const checkpoint = await open(file, new DerivedBytesBudget(150));
      assert.deepEqual(
        checkpoint.tensors.map((t) => t.name),
        ['t1'],
      );
      assert.deepEqual(checkpoint.skipped, [
        {
          name: 't2',
          reason:
            'its values must be computed in memory (a non-contiguous view), which needs a 48 B copy, and the copies made for this file would pass 150 B',
        },
        { name: 'expanded', reason: 'an expanded view (stride 0 along dimension 0 of [1048576, 12])' },
      ]);
    });

    it('a permuted 3-D view is gathered in C order, copying its contiguous inner rows whole', async () => {
      // storage = arange(24) as [2, 3, 4]; the view is its permute(1, 0, 2): size [3, 2, 4], strides [4, 12, 1].
      const state = dictPickle([pk.str('p'), tensorCall(storageId('FloatStorage', '0', 24), 0, [3, 2, 4], [4, 12, 1])]);
      const checkpoint = await openCheckpoint(
        write(
          'permuted.pt',
          storedZip([
            ['p/data.pkl', state],
            ['p/data/0', floats(Array.from({ length: 24 }, (_, i) => i))],
          ]),
        ),
      );
      const source = checkpoint.tensors[0].source;
      assert.equal(source.kind, 'inline');
      const expected: number[] = [];
      for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 4; k++) expected.push(i * 4 + j * 12 + k);
      if (source.kind === 'inline') assert.deepEqual(Array.from(new Float32Array(source.bytes.slice().buffer)), expected);
    });

    it('_rebuild_tensor_v3 with a dtype this reader does not know is listed as not supported, not read as bytes', async () => {
      const pickle = statePickle([
        { name: 'c.weight', key: '0', numel: 16, offset: 0, size: [2, 2], stride: [2, 1], untypedAs: 'complex32' },
      ]);
      const checkpoint = await openCheckpoint(
        write(
          'complex32.pt',
          storedZip([
            ['v/data.pkl', pickle],
            ['v/data/0', new Uint8Array(16)],
          ]),
        ),
      );
      assert.deepEqual(checkpoint.tensors, []);
      assert.deepEqual(checkpoint.skipped, [{ name: 'c.weight', reason: 'element type torch.complex32 is not supported' }]);
    });

    it('a view past the end of its real root storage in the legacy format is corrupt', async () => {
      // "v" claims to view elements 2..4 of a root of 4, but the root saved under key "r" holds 2.
      const object = statePickle([
        { name: 'a.weight', key: 'r', numel: 2, offset: 0, size: [2], stride: [1], legacyView: null },
        { name: 'v.weight', key: 'r', numel: 4, offset: 0, size: [2], stride: [1], legacyView: ['v', 2, 2] },
      ]);
      const keys = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('('), pk.str('r'), Buffer.from('l.')]);
      const count = Buffer.alloc(8);
      count.writeBigInt64LE(2n);
      const file = write('legacy-view.pt', Buffer.concat([LEGACY_HEADER, object, keys, count, floats([1, 0])]));
      await expectCheckpointError(
        file,
        'corrupt',
        /storage view v \(elements 2\.\.4\) runs past the end of its root storage r of 2 elements/,
      );
    });

    it('tensors whose flattened names collide are all listed, the later ones with a "#2" suffix', async () => {
      // {"a.b": tensor of zeros, "a": {"b": tensor of ones}}
      const state = dictPickle(
        [pk.str('a.b'), tensorCall(storageId('FloatStorage', '0', 4), 0, [4], [1])],
        [pk.str('a'), dictPickle([pk.str('b'), tensorCall(storageId('FloatStorage', '1', 4), 0, [4], [1])]).subarray(2, -1)],
      );
      const report = await reportOf(
        write(
          'duplicate.pt',
          storedZip([
            ['d/data.pkl', state],
            ['d/data/0', floats([0, 0, 0, 0])],
            ['d/data/1', floats([1, 1, 1, 1])],
          ]),
        ),
      );
      assert.deepEqual(
        report.layers.map((l) => [l.name, l.nnz]),
        [
          ['a.b', 0],
          ['a.b#2', 4],
        ],
      );
      assert.match(report.metadata['duplicate names'], /^1 tensor shared a name/);
    });

    it('a quantized zero point outside its stored type is corrupt, not wrapped around', async () => {
      const qtensor = (zeroPoint: number) =>
        Buffer.concat([
          pk.global('torch._utils', '_rebuild_qtensor'),
          pk.tuple(
            storageId('QInt8Storage', '0', 4),
            pk.int(0),
            pk.tuple(pk.int(4)),
            pk.tuple(pk.int(1)),
            pk.tuple(
              pk.global('torch', 'per_tensor_affine'),
              Buffer.concat([Buffer.from('G'), Buffer.from([0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a])]),
              pk.int(zeroPoint),
            ),
            Buffer.from([0x89]),
            hooks,
          ),
          Buffer.from('R'),
        ]);
      const stored = Int8Array.of(-128, 0, 1, 127);
      const ok = await reportOf(
        write(
          'q-ok.pt',
          storedZip([
            ['q/data.pkl', dictPickle([pk.str('w'), qtensor(-128)])],
            ['q/data/0', new Uint8Array(stored.buffer)],
          ]),
        ),
      );
      assert.deepEqual([ok.layers[0].nnz, ok.layers[0].note], [3, 'qint8, zero = zero point -128']);
      const file = write(
        'q-zp.pt',
        storedZip([
          ['q/data.pkl', dictPickle([pk.str('w'), qtensor(256)])],
          ['q/data/0', new Uint8Array(stored.buffer)],
        ]),
      );
      await expectCheckpointError(file, 'corrupt', /tensor "w": zero point 256 is outside the range -128\.\.127 of its stored int8 values/);
    });

    it('_rebuild_from_type_v2 around a function not on the allowlist lists the tensor as not analysed', async () => {
      const wrapped = Buffer.concat([
        pk.global('torch._tensor', '_rebuild_from_type_v2'),
        pk.tuple(
          pk.global('torch._utils', '_rebuild_wrapper_subclass'),
          pk.global('torch.distributed.tensor', 'DTensor'),
          pk.tuple(pk.int(1)),
          Buffer.from('}'),
        ),
        Buffer.from('R'),
      ]);
      const state = dictPickle([pk.str('w'), wrapped], [pk.str('x'), tensorCall(storageId('FloatStorage', '0', 2), 0, [2], [1])]);
      const checkpoint = await openCheckpoint(
        write(
          'from-type.pt',
          storedZip([
            ['f/data.pkl', state],
            ['f/data/0', floats([0, 1])],
          ]),
        ),
      );
      assert.deepEqual(
        checkpoint.tensors.map((t) => t.name),
        ['x'],
      );
      assert.deepEqual(checkpoint.skipped, [
        { name: 'w', reason: 'a tensor subclass rebuilt by torch._utils._rebuild_wrapper_subclass, which is not read' },
      ]);
    });
  });
});

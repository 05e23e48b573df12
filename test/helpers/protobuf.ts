// A minimal protobuf writer, and ONNX messages built with it, for tests that must control every
// byte of a model (hostile fields, offsets past 4 GiB, external data into sparse files).

/** A varint; negative values take ten bytes, as protobuf writes int32/int64. */
export function varint(value: number | bigint): Buffer {
  let n = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}

export const tag = (no: number, wire: number): Buffer => varint((no << 3) | wire);
export const varintField = (no: number, v: number | bigint): Buffer => Buffer.concat([tag(no, 0), varint(v)]);

/** A length-delimited field: bytes, a UTF-8 string or an embedded message. */
export function lenField(no: number, payload: Uint8Array | readonly number[] | string): Buffer {
  const b = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload as Uint8Array);
  return Buffer.concat([tag(no, 2), varint(b.length), b]);
}

/** TensorProto.DataType values. */
export const ONNX_DTYPE = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7, int4: 22 } as const;

/** TensorProto.dims, one unpacked field per axis. */
export const onnxDims = (...ds: readonly number[]): Buffer => Buffer.concat(ds.map((d) => varintField(1, d)));

/** A TensorProto.external_data entry (StringStringEntryProto). */
export const onnxExternalEntry = (key: string, value: string): Buffer =>
  lenField(13, Buffer.concat([lenField(1, key), lenField(2, value)]));

/** A TensorProto whose bytes are `length` bytes at `offset` of the file `location` (data_location EXTERNAL). */
export function onnxExternalTensor(
  name: string,
  dataType: number,
  dims: readonly number[],
  location: string,
  offset: number,
  length: number,
): Buffer {
  return Buffer.concat([
    onnxDims(...dims),
    varintField(2, dataType),
    lenField(8, name),
    onnxExternalEntry('location', location),
    onnxExternalEntry('offset', String(offset)),
    onnxExternalEntry('length', String(length)),
    varintField(14, 1),
  ]);
}

/** A TensorProto holding its bytes in raw_data. */
export function onnxInlineTensor(name: string, dataType: number, dims: readonly number[], raw: Uint8Array | readonly number[]): Buffer {
  return Buffer.concat([onnxDims(...dims), varintField(2, dataType), lenField(8, name), lenField(9, raw)]);
}

/** A NodeProto; an array attribute value becomes `ints` (unpacked, as proto2 writes it). */
export function onnxNode(
  op: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attributes: Record<string, number | number[]> = {},
): Buffer {
  const encoded = Object.entries(attributes).map(([name, v]) =>
    lenField(
      5,
      Buffer.concat([
        lenField(1, name),
        ...(Array.isArray(v) ? [...v.map((x) => varintField(8, x)), varintField(20, 7)] : [varintField(3, v), varintField(20, 2)]),
      ]),
    ),
  );
  return Buffer.concat([...inputs.map((i) => lenField(1, i)), ...outputs.map((o) => lenField(2, o)), lenField(4, op), ...encoded]);
}

/** A ModelProto (IR 8, opset 13) of one graph "g" with these nodes and initializers (TensorProto bytes). */
export function onnxModel(nodes: readonly Uint8Array[], initializers: readonly Uint8Array[]): Buffer {
  const graph = Buffer.concat([...nodes.map((n) => lenField(1, n)), lenField(2, 'g'), ...initializers.map((t) => lenField(5, t))]);
  return Buffer.concat([
    varintField(1, 8),
    lenField(2, 'sparsity-lens-test'),
    lenField(7, graph),
    lenField(8, Buffer.concat([lenField(1, ''), varintField(2, 13)])),
  ]);
}

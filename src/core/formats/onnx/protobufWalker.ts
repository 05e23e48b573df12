import { CheckpointError } from '../../errors';
import type { RandomAccessFile } from '../../randomAccessFile';
import { MAX_STRING_BYTES } from './limits';

/** Protobuf wire types that can occur in valid messages. */
export const enum Wire {
  Varint = 0,
  Fixed64 = 1,
  Len = 2,
  Fixed32 = 5,
}

export interface Field {
  readonly no: number;
  readonly wire: Wire;
  /** For varints: the value, as a BigInt so 64-bit values and negatives survive. */
  readonly varint: bigint;
  /** Byte range of the value in the file (for Len: the payload, after the length prefix). */
  readonly start: number;
  readonly end: number;
}

const WINDOW = 1 << 16;

/**
 * Walks protobuf messages straight from a file. Unlike decoders that need the whole message in
 * memory, it yields each field's byte range, so a caller can record where a multi-GB payload
 * (an ONNX `raw_data`) lies and skip it without reading it.
 */
export class ProtobufWalker {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;

  constructor(private readonly file: RandomAccessFile) {}

  get path(): string {
    return this.file.path;
  }

  /** The fields of the message occupying [start, end), in file order. */
  async *fields(start: number, end: number): AsyncGenerator<Field> {
    let pos = start;
    while (pos < end) {
      const tagAt = pos;
      const tag = await this.varint(pos, end);
      pos = tag.next;
      const no = Number(tag.value >> 3n);
      const wire = Number(tag.value & 7n);
      if (no === 0) throw this.corrupt('field number 0', tagAt);
      switch (wire) {
        case Wire.Varint: {
          const v = await this.varint(pos, end);
          yield { no, wire, varint: v.value, start: pos, end: v.next };
          pos = v.next;
          break;
        }
        case Wire.Fixed64:
        case Wire.Fixed32: {
          const size = wire === Wire.Fixed64 ? 8 : 4;
          if (pos + size > end) throw this.truncated(tagAt);
          yield { no, wire, varint: 0n, start: pos, end: pos + size };
          pos += size;
          break;
        }
        case Wire.Len: {
          const len = await this.varint(pos, end);
          if (len.value > BigInt(end - len.next))
            throw this.truncated(tagAt, `field ${no} declares ${len.value} bytes`, len.next + Number(len.value));
          const payloadEnd = len.next + Number(len.value);
          yield { no, wire, varint: 0n, start: len.next, end: payloadEnd };
          pos = payloadEnd;
          break;
        }
        default:
          throw this.corrupt(`invalid wire type ${wire} for field ${no}`, tagAt);
      }
    }
  }

  /** Reads [start, end) into memory; for small payloads such as names and attributes. */
  async bytes(start: number, end: number): Promise<Uint8Array> {
    return this.file.read(start, end - start);
  }

  async string(field: Field, maxBytes = MAX_STRING_BYTES): Promise<string> {
    if (field.end - field.start > maxBytes) {
      throw this.corrupt(`a string of ${field.end - field.start} bytes where at most ${maxBytes} are expected`, field.start);
    }
    return new TextDecoder().decode(await this.bytes(field.start, field.end));
  }

  /** Decodes the varints packed in [start, end). */
  async packedVarints(start: number, end: number): Promise<bigint[]> {
    const out: bigint[] = [];
    let pos = start;
    while (pos < end) {
      const v = await this.varint(pos, end);
      out.push(v.value);
      pos = v.next;
    }
    return out;
  }

  corrupt(what: string, offset: number): CheckpointError {
    return new CheckpointError(this.file.path, 'corrupt', `malformed protobuf: ${what}`, offset);
  }

  /** `needed`: where the field would end, when it is past the end of the file (a truncated file, not a bad length). */
  private truncated(offset: number, what = 'a field', needed?: number): CheckpointError {
    const shortfall = needed !== undefined && needed > this.file.size ? { fileSize: this.file.size, needed, what: 'graph' } : undefined;
    return new CheckpointError(
      this.file.path,
      'truncated',
      `malformed protobuf: ${what} runs past its message or the file`,
      offset,
      shortfall,
    );
  }

  private async varint(pos: number, end: number): Promise<{ value: bigint; next: number }> {
    await this.ensure(pos, Math.min(10, end - pos));
    let value = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (pos + i >= end) throw this.truncated(pos, 'a varint');
      const b = this.window[pos + i - this.windowStart];
      value |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return { value: BigInt.asUintN(64, value), next: pos + i + 1 };
      shift += 7n;
    }
    throw this.corrupt('a varint longer than 10 bytes', pos);
  }

  private async ensure(pos: number, n: number): Promise<void> {
    if (pos >= this.windowStart && pos + n <= this.windowStart + this.window.length) return;
    if (pos + n > this.file.size) throw this.truncated(pos, 'a field', pos + n);
    const length = Math.min(Math.max(WINDOW, n), this.file.size - pos);
    this.window = await this.file.read(pos, length);
    this.windowStart = pos;
  }
}

/** A varint field's value as a signed 64-bit number (protobuf int64 / int32 encode negatives this way). */
export function signed(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

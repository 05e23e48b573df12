import { withFile } from '../../randomAccessFile';
import { ProtobufWalker, Wire } from './protobufWalker';

/** ModelProto field 14: metadata_props, StringStringEntryProto { key = 1; value = 2 }. */
const METADATA_PROPS = 14;

/** ModelProto.metadata_props as [key, value] pairs, in file order, read straight from the protobuf. */
export async function metadataProps(file: string): Promise<[string, string][]> {
  return withFile(file, async (f) => {
    const walker = new ProtobufWalker(f);
    const props: [string, string][] = [];
    for await (const field of walker.fields(0, f.size)) {
      if (field.no !== METADATA_PROPS || field.wire !== Wire.Len) continue;
      const entry: [string, string] = ['', ''];
      for await (const e of walker.fields(field.start, field.end))
        if (e.wire === Wire.Len && (e.no === 1 || e.no === 2)) entry[e.no - 1] = await walker.string(e);
      props.push(entry);
    }
    return props;
  });
}

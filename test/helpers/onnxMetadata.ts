import { ProtobufWalker, Wire } from '../../src/core/formats/onnx/protobufWalker';
import { withFile } from '../../src/core/randomAccessFile';

/** ModelProto.metadata_props as [key, value] pairs, in file order, read straight from the protobuf. */
export async function metadataProps(file: string): Promise<[string, string][]> {
  return withFile(file, async (f) => {
    const walker = new ProtobufWalker(f);
    const props: [string, string][] = [];
    for await (const field of walker.fields(0, f.size)) {
      if (field.no !== 14 || field.wire !== Wire.Len) continue;
      const entry: [string, string] = ['', ''];
      for await (const e of walker.fields(field.start, field.end))
        if (e.wire === Wire.Len && (e.no === 1 || e.no === 2)) entry[e.no - 1] = await walker.string(e);
      props.push(entry);
    }
    return props;
  });
}

import type { Checkpoint, CheckpointFormat } from '../checkpoint';
import { CheckpointError } from '../errors';
import { writeNumpy } from './numpy/writer';
import { writeOnnx } from './onnx/writer';
import { writeTorch } from './pytorch/writer';
import { writeSafetensors } from './safetensors/writer';
import type { CheckpointWriter } from './writer';

/** Each format's writer, beside its reader; a format without one is refused, never written wrongly. */
const WRITERS: Readonly<Record<CheckpointFormat, CheckpointWriter | undefined>> = {
  safetensors: writeSafetensors,
  onnx: writeOnnx,
  pytorch: writeTorch,
  numpy: writeNumpy,
  tfjs: undefined,
};

/** The writer of `checkpoint`'s format, or an 'unsupported' error naming the file. */
export function writerFor(checkpoint: Checkpoint): CheckpointWriter {
  const writer = WRITERS[checkpoint.format];
  if (!writer) throw new CheckpointError(checkpoint.file, 'unsupported', `${checkpoint.format} checkpoints are not writable yet`);
  return writer;
}

import type { Checkpoint } from '../checkpoint';
import { printable } from '../errors';
import type { StoredEdit } from '../formats/writer';
import type { StoredTensor } from '../storedTensor';
import { PruneError } from './pruneSelection';

/**
 * Where stored bytes lie, comparable across tensors: a file range (a stored zip member's bytes
 * counted in the archive, where a damaged directory can make members overlap), or a range of a
 * deflated member's uncompressed bytes.
 */
interface Place {
  readonly file: string;
  readonly member: string;
  readonly start: number;
  readonly end: number;
}

function placesOf(stored: StoredTensor): Place[] {
  switch (stored.kind) {
    case 'range':
      return [{ file: stored.file, member: '', start: stored.offset, end: stored.offset + stored.length }];
    case 'ranges':
      return stored.parts.flatMap(placesOf);
    case 'zipMember':
      return stored.compression === 'stored'
        ? [
            {
              file: stored.archive,
              member: '',
              start: stored.dataOffset + stored.offset,
              end: stored.dataOffset + stored.offset + stored.length,
            },
          ]
        : [{ file: stored.archive, member: stored.member, start: stored.offset, end: stored.offset + stored.length }];
    case 'onnxField': {
      const { starts, ends } = stored.fields ?? { starts: [stored.offset], ends: [stored.offset + stored.length] };
      return starts.map((start, i) => ({ file: stored.file, member: '', start, end: ends[i] }));
    }
    case 'empty':
      return [];
    case 'derived':
      if (stored.op === 'prunePair') return [...placesOf(stored.orig.stored), ...placesOf(stored.mask.stored)];
      if (stored.op === 'condensed') return [stored.values, stored.indices, stored.activeRows].flatMap(placesOf);
      return placesOf(stored.from);
  }
}

const overlaps = (a: Place, b: Place) => a.file === b.file && a.member === b.member && a.start < b.end && b.start < a.end;

/**
 * Refuses edits that would change bytes another tensor reads too: tied weights (PyTorch storages
 * shared by two names), a pruning pair's orig overlapping a mask, members a damaged zip directory
 * makes overlap. Only the edited tensor's own place (`edit.target` itself) may be written.
 */
export function checkNothingElseChanges(
  checkpoint: Checkpoint,
  edits: readonly { readonly layer: string; readonly edit: StoredEdit }[],
): void {
  const places = checkpoint.tensors.flatMap((t) => placesOf(t.stored).map((place) => ({ place, name: t.name })));
  for (const { layer, edit } of edits) {
    const targets = placesOf(edit.target);
    const isTarget = (p: Place) =>
      targets.some((t) => t.file === p.file && t.member === p.member && t.start === p.start && t.end === p.end);
    for (const { place, name } of places) {
      if ((name === layer && isTarget(place)) || !targets.some((t) => overlaps(place, t))) continue;
      throw new PruneError(
        `"${printable(layer)}" shares stored bytes with "${printable(name)}" (tied weights, or a damaged file): pruning it would change the other (leave it out with --exclude)`,
      );
    }
  }
}

import type { Checkpoint } from '../checkpoint';
import { printable } from '../errors';
import type { StoredEdit } from '../formats/writer';
import { storedPlaces, type StoredPlace } from '../storedTensor';
import { PruneError } from './pruneSelection';

const overlaps = (a: StoredPlace, b: StoredPlace) => a.file === b.file && a.member === b.member && a.start < b.end && b.start < a.end;

/**
 * Refuses edits that would change bytes another tensor reads too: tied weights (PyTorch storages
 * shared by two names), a pruning pair's orig overlapping a mask, members a damaged zip directory
 * makes overlap. Only the edited tensor's own place (`edit.target` itself) may be written.
 */
export function checkNothingElseChanges(
  checkpoint: Checkpoint,
  edits: readonly { readonly layer: string; readonly edit: StoredEdit }[],
): void {
  const places = checkpoint.tensors.flatMap((t) => storedPlaces(t.stored).map((place) => ({ place, name: t.name })));
  for (const { layer, edit } of edits) {
    const targets = storedPlaces(edit.target);
    const isTarget = (p: StoredPlace) =>
      targets.some((t) => t.file === p.file && t.member === p.member && t.start === p.start && t.end === p.end);
    for (const { place, name } of places) {
      if ((name === layer && isTarget(place)) || !targets.some((t) => overlaps(place, t))) continue;
      throw new PruneError(
        `"${printable(layer)}" shares stored bytes with "${printable(name)}" (tied weights, or a damaged file): pruning it would change the other (leave it out with --exclude)`,
      );
    }
  }
}

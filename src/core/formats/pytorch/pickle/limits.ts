/**
 * How much work and memory a pickle may ask for. The unpickler checks each as it goes, so hostile
 * input ends in a CheckpointError ('unsafe' or 'corrupt'), not a hang or an exhausted heap.
 */

/** The largest pickle read into memory (data.pkl, or one pickle of the legacy stream). */
export const MAX_PICKLE_BYTES = 1 << 28;

/** Memo entries (PUT / MEMOIZE). */
export const MAX_MEMO_ENTRIES = 1 << 23;
/** Values on the stack, all MARK levels together. */
export const MAX_STACK_VALUES = 1 << 20;
/** Open MARKs: the nesting depth of containers under construction. */
export const MAX_OPEN_MARKS = 10_000;
/** Opcodes plus items copied between containers: the total work one pickle may ask for. */
export const MAX_STEPS = 1 << 28;
/** Any single length (string, bytes, FRAME) a pickle may declare. */
export const MAX_DECLARED_LENGTH = 1 << 28;
/** Bytes of one integer (LONG1 / LONG4) or digits of a text integer. */
export const MAX_INTEGER_BYTES = 4096;
/** Items data-building calls may create per byte of pickle (see PickleLimits.maxCreatedPerByte). */
export const MAX_CREATED_PER_BYTE = 4;
/** Items data-building calls may create in all, however long the pickle. */
export const MAX_CREATED = 1 << 24;

export interface PickleLimits {
  /** Memo entries (PUT / MEMOIZE). */
  readonly maxMemo: number;
  /** Values on the stack, all MARK levels together. */
  readonly maxStack: number;
  /** Open MARKs: the nesting depth of containers under construction. */
  readonly maxMarks: number;
  /** Opcodes plus items copied between containers: the total work the pickle may ask for. */
  readonly maxSteps: number;
  /** Any single length (string, bytes, frame) a pickle may declare. */
  readonly maxLength: number;
  /**
   * Items (list and dict entries, bytes, characters) that data-building calls (list(), bytes(),
   * OrderedDict() …) may create in all, per byte of pickle: torch's pickles build containers with
   * opcodes, so a pickle that makes more through calls is a memory bomb (list(b) on one large
   * memoized bytes object, again and again).
   */
  readonly maxCreatedPerByte: number;
  /** The most items data-building calls may create, however long the pickle. */
  readonly maxCreated: number;
  /** Bytes of one integer (LONG1/LONG4) or digits of a text integer. */
  readonly maxIntegerBytes: number;
}

export const DEFAULT_PICKLE_LIMITS: PickleLimits = {
  maxMemo: MAX_MEMO_ENTRIES,
  maxStack: MAX_STACK_VALUES,
  maxMarks: MAX_OPEN_MARKS,
  maxSteps: MAX_STEPS,
  maxLength: MAX_DECLARED_LENGTH,
  maxIntegerBytes: MAX_INTEGER_BYTES,
  maxCreatedPerByte: MAX_CREATED_PER_BYTE,
  maxCreated: MAX_CREATED,
};

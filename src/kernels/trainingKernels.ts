/**
 * The training capability's data: an ONNX graph made a program for the engine (built by
 * src/core/train/trainingProgram.ts, run by native/src/train/ in the job worker), the optimizer's
 * settings, and a step's targets.
 */
/** One ONNX node as the engine runs it; constant inputs the engine needs as numbers are attributes. */
export interface ProgramNode {
  readonly op: string;
  readonly name: string;
  /** Value ids; -1 for an absent optional input. */
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly ints?: Readonly<Record<string, number>>;
  readonly floats?: Readonly<Record<string, number>>;
  readonly intLists?: Readonly<Record<string, readonly number[]>>;
  readonly strings?: Readonly<Record<string, string>>;
}

export interface ProgramParam {
  /** The value id the graph reads it as. */
  readonly value: number;
  /** The initializer's name. */
  readonly name: string;
  readonly shape: readonly number[];
  /** Dense, row-major. */
  readonly data: Float32Array;
  readonly trainable: boolean;
  /** 1 = active; absent = dense. Only for weights (input 1 of Gemm, MatMul, Conv). SRigL runs change it (setMasks). */
  readonly mask?: Uint8Array;
}

/** An ONNX graph made a training program (src/core/train/trainingProgram.ts). */
export interface TrainingProgram {
  readonly valueCount: number;
  /** The value fed with a batch [B, ...sampleShape]. */
  readonly input: number;
  /** The logits [B, classes] (a final Softmax / LogSoftmax is not part of the program). */
  readonly output: number;
  readonly sampleShape: readonly number[];
  /** In an order where every input is computed before use. */
  readonly nodes: readonly ProgramNode[];
  readonly params: readonly ProgramParam[];
  /** Masked weights at most this dense train in the sparse layout (default 0.4; 0: every one dense with its mask). */
  readonly sparseDensity?: number;
}

export interface OptimizerSettings {
  readonly kind: 'sgd' | 'adamw';
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
}

/** Labels (class per sample), or the teacher's logits [B, classes] softened by a temperature. */
export type StepTargets = { readonly labels: Int32Array } | { readonly teacherLogits: Float32Array; readonly temperature: number };

/**
 * The addon's training capability (native/src/binding/train_binding.cc over native/src/train/):
 * an opaque session built from a training program, stepped one batch at a time, and the float64
 * single-op entry the gradient checks use. Only the job worker process calls it.
 */

import type { SriglLayerInput, SriglLayerOptions, SriglLayerUpdate } from '../../../core/train/sriglUpdate';
import type { OptimizerSettings, ProgramNode, StepTargets, TrainingProgram } from '../../trainingKernels';

export type { OptimizerSettings, ProgramNode, ProgramParam, StepTargets, TrainingProgram } from '../../trainingKernels';

export interface NativeTrainingSession {
  /** Forward, loss (mean over the batch), backward, optimizer update at lr, masks; returns the loss before the update. */
  step(x: Float32Array, batch: number, targets: StepTargets, lr: number, denseGradients: boolean): number;
  /** Logits [batch, classes], no training. */
  predict(x: Float32Array, batch: number): Float32Array;
  /**
   * Every trainable parameter, dense (zeros at inactive positions); with `names`, only those (the
   * dense copies of the others cost time). Throws an error naming any that is not a trainable parameter.
   */
  parameters(names?: readonly string[]): Record<string, Float32Array>;
  /**
   * Dense gradients of the masked weights (trained sparse or dense with their mask) from the last
   * step run with denseGradients, before masking: what a mask update needs to regrow.
   */
  denseGradients(): Record<string, Float32Array>;
  /**
   * New masks for weights built with one (a dynamic sparse training's mask update), by parameter
   * name: each weight becomes values · mask (mask 0/1 and values dense row-major, of the weight's
   * size) and keeps the way it trains (sparse or masked, per describe()). Throws an error naming
   * the parameter, and changes nothing, on an unknown name, a weight without a mask, a wrong size
   * or a mask value other than 0 and 1.
   *
   * SGD momentum is kept where a weight stays active and 0 elsewhere. AdamW's moments are kept,
   * and a regrown position continues from the moments it left with, decayed by β1 and β2 for each
   * step since (as training dense with the mask gives); resetOptimizerState starts regrown
   * positions from zero moments instead. The weights' dense gradients are dropped.
   */
  setMasks(masks: Record<string, { mask: Uint8Array; values: Float32Array }>, options: { resetOptimizerState: boolean }): void;
  /**
   * Per trainable parameter: "dense", "masked d=0.50", "sparse d=0.10" — how it trains — or "frozen"
   * where its op does not train that input (BatchNormalization's statistics).
   */
  describe(): Record<string, string>;
  /** Frees the session's memory now (the GC would later). */
  close(): void;
}

export interface CheckedTensor {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export interface NativeTrainingAddon {
  TrainingSession: new (program: TrainingProgram, optimizer: OptimizerSettings, threads: number) => NativeTrainingSession;
  /** The ONNX op types the engine trains. */
  trainOps(): string[];
  /**
   * Float64, one node with inputs 0..n-1 and outputs 0..m-1: its outputs, and with outputGrads the
   * gradient of every input. With sparseWeightMask, input 1 trains sparse (given dense; its
   * gradient comes back dense with zeros at inactive positions, plus denseWeightGrad).
   */
  trainOpCheck(
    node: Omit<ProgramNode, 'inputs' | 'outputs'> & { readonly inputs?: readonly number[]; readonly outputs?: readonly number[] },
    inputs: readonly CheckedTensor[],
    options: { readonly outputCount?: number; readonly sparseWeightMask?: Uint8Array; readonly outputGrads?: readonly Float64Array[] },
  ): { outputs: CheckedTensor[]; inputGrads: (CheckedTensor | null)[]; denseWeightGrad?: CheckedTensor };
  /** Float64: the step's loss on logits [B, C] and its gradient. */
  trainLossCheck(
    logits: CheckedTensor,
    targets: { readonly labels: Int32Array } | { readonly teacherLogits: Float64Array; readonly temperature: number },
  ): { loss: number; grad: Float64Array };
  /**
   * One SRigL mask update of one layer (native/src/train/srigl_update.cc): src/core/train/sriglUpdate.ts's
   * sriglLayerUpdate in C++, every output bit for bit the same (new arrays; the inputs are not
   * changed). Where the TypeScript throws a SriglUpdateError this throws an Error whose message is
   * "SRigL update: " followed by the same message; wrong argument types throw a plain Error.
   * Absent from addons built before it.
   */
  sriglLayerUpdate?(layer: SriglLayerInput, options: SriglLayerOptions): SriglLayerUpdate;
}

export type ScheduleKind = 'constant' | 'cosine' | 'step';

export interface LearningRateSchedule {
  readonly kind: ScheduleKind;
  readonly lr: number;
  /** Steps of linear warm-up from lr/warmup to lr. */
  readonly warmup: number;
  readonly totalSteps: number;
}

/** `step`: the rate falls tenfold at half and at three quarters of the run (the usual CIFAR milestones). */
export const STEP_MILESTONES = [0.5, 0.75] as const;
export const STEP_GAMMA = 0.1;

/**
 * The learning rate of update `step` (0-based). Warm-up rises linearly over the first `warmup`
 * updates ((step + 1) / warmup · lr); after it, constant, cosine (from lr down to 0 at the last
 * update, over the steps after warm-up) or step decay.
 */
export function learningRateAt(schedule: LearningRateSchedule, step: number): number {
  const { kind, lr, warmup, totalSteps } = schedule;
  if (step < warmup) return (lr * (step + 1)) / warmup;
  switch (kind) {
    case 'constant':
      return lr;
    case 'cosine': {
      const span = Math.max(1, totalSteps - warmup);
      return 0.5 * lr * (1 + Math.cos((Math.PI * (step - warmup)) / span));
    }
    case 'step':
      return lr * STEP_GAMMA ** STEP_MILESTONES.filter((m) => step >= Math.floor(m * totalSteps)).length;
  }
}

/**
 * When SRigL updates masks and how much it moves (spec §3.2, the reference's `get_T_end` and
 * `cosine_annealing`): updates at t = ΔT, 2ΔT, … while t < T_end = int(0.75 · total steps), each
 * dropping the fraction f(t) = α/2 · (1 + cos(π t / T_end)) of a layer's active weights.
 */
export interface SriglSchedule {
  /** Optimizer steps of the whole run. */
  readonly totalSteps: number;
  /** ΔT: steps between mask updates. */
  readonly deltaT: number;
  /** α: the drop fraction of the first update's cosine (0.3 by default in the reference). */
  readonly alpha: number;
  /** The share of the run that updates masks (0.75 in the reference; 1 = `use_t_end: False`). */
  readonly tEndFraction: number;
}

/** T_end = int(fraction · total steps): floors, as the reference does. */
export function sriglTEnd(schedule: SriglSchedule): number {
  return Math.floor(schedule.tEndFraction * schedule.totalSteps);
}

/** f(t) = α/2 · (1 + cos(π t / T_end)). */
export function dropFraction(schedule: SriglSchedule, t: number): number {
  return (schedule.alpha / 2) * (1 + Math.cos((Math.PI * t) / sriglTEnd(schedule)));
}

/** Whether the step count t (optimizer steps done) is a mask update: t % ΔT == 0 and 0 < t < T_end. */
export function isMaskUpdate(schedule: SriglSchedule, t: number): boolean {
  return t > 0 && t % schedule.deltaT === 0 && t < sriglTEnd(schedule);
}

/** How many mask updates a run makes. */
export function maskUpdateCount(schedule: SriglSchedule): number {
  return Math.max(0, Math.ceil(sriglTEnd(schedule) / schedule.deltaT) - 1);
}

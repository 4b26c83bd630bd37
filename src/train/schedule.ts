// Learning-rate schedules as data: linear warm-up, then step decays.

export interface StepSchedule {
  /** Peak learning rate (after warm-up, before decays). */
  baseLr: number;
  warmupSteps: number;
  /** Steps after which the rate is divided by `decayFactor` (strictly after, as in bit_hyperrule.get_lr). */
  decaySteps: readonly number[];
  decayFactor: number;
  totalSteps: number;
}

/**
 * The learning rate at `step` (0-based), following big_transfer's
 * bit_hyperrule.get_lr: base * step / warmup during warm-up, then the base
 * divided by decayFactor once per decay point s with s < step.
 */
export function learningRate(s: StepSchedule, step: number): number {
  if (step < s.warmupSteps) return (s.baseLr * step) / s.warmupSteps;
  let lr = s.baseLr;
  for (const d of s.decaySteps) if (d < step) lr /= s.decayFactor;
  return lr;
}

/**
 * The schedule stretched or shrunk to `totalSteps`: decays (and the warm-up,
 * unless `keepWarmup`) move proportionally, rounded to whole steps.
 */
export function rescaleSchedule(s: StepSchedule, totalSteps: number, keepWarmup = false): StepSchedule {
  const f = totalSteps / s.totalSteps;
  return {
    ...s,
    totalSteps,
    warmupSteps: keepWarmup ? s.warmupSteps : Math.round(s.warmupSteps * f),
    decaySteps: s.decaySteps.map((d) => Math.round(d * f)),
  };
}

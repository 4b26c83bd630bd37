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

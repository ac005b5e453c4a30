// Learning-rate schedules with linear warm-up, as transformers' get_{constant,cosine,linear}_schedule_with_warmup:
// the rate of optimizer step k (0-based) is lr · factor(k).
export type ScheduleName = 'constant' | 'cosine' | 'linear';
export const SCHEDULE_NAMES: readonly ScheduleName[] = ['constant', 'cosine', 'linear'];

export interface ScheduleSettings {
  lr: number;
  schedule: ScheduleName;
  warmupSteps: number;
  totalSteps: number;
}

export function learningRateAt(step: number, s: ScheduleSettings): number {
  if (step < s.warmupSteps) return (s.lr * step) / Math.max(1, s.warmupSteps);
  const progress = (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps);
  switch (s.schedule) {
    case 'constant':
      return s.lr;
    case 'linear':
      return s.lr * Math.max(0, 1 - progress);
    case 'cosine':
      return s.lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
  }
}

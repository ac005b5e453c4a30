// How much of the teacher a top-k answer leaves out. The student is taught the top-k tokens exactly
// and the rest as one bucket of mass m (its tempered share assumes it spread evenly over the other
// n = V − k tokens). Against the teacher's full distribution that loses KL(p ‖ p̂) = Σ_tail p_i ·
// ln(p_i·n/m) ≤ m·ln(n) nats per token, since no tail token holds more than m: the bound reported.

export interface TruncationFigures {
  /** Mean probability outside the top-k, per target token. */
  teacher_tail_mass: number;
  /** Mean of m·ln(V − k): an upper bound of the KL between the teacher and what the student is taught. */
  teacher_truncation_kl_bound: number;
}

/** Above this mean tail mass the run warns that k is too small for this teacher. */
export const LARGE_TAIL_MASS = 0.1;

export class TruncationTotals {
  #rows = 0;
  #mass = 0;
  #bound = 0;

  /** Adds rows of tail log-masses, each with a tail of `tailTokens` tokens. */
  add(tailLogMasses: ArrayLike<number>, tailTokens: number): TruncationFigures {
    // No tail tokens (k = V): nothing is left out, whatever rounding left in 1 − Σ top-k.
    let mass = 0;
    if (tailTokens > 0) for (let i = 0; i < tailLogMasses.length; i++) mass += Math.exp(tailLogMasses[i]!);
    const logN = tailTokens > 1 ? Math.log(tailTokens) : 0;
    this.#rows += tailLogMasses.length;
    this.#mass += mass;
    this.#bound += mass * logN;
    const rows = Math.max(1, tailLogMasses.length);
    return figures(mass / rows, (mass * logN) / rows);
  }

  /** Over every row added. */
  figures(): TruncationFigures {
    const rows = Math.max(1, this.#rows);
    return figures(this.#mass / rows, this.#bound / rows);
  }
}

const figures = (mass: number, bound: number): TruncationFigures => ({ teacher_tail_mass: +mass.toPrecision(4), teacher_truncation_kl_bound: +bound.toPrecision(4) });

/** The line a run prints about its first step's rows (a warning when the tail is large). */
export function truncationLine(topK: number, first: TruncationFigures): string {
  const covered = (100 * (1 - first.teacher_tail_mass)).toFixed(1);
  const line = `teacher top-${topK}: ${covered} % of the teacher's probability per token on the first step (tail ${first.teacher_tail_mass}); what the student is taught is within ${first.teacher_truncation_kl_bound} nats/token (KL) of the full distribution`;
  return first.teacher_tail_mass > LARGE_TAIL_MASS ? `warning: ${line}; the tail is large: a larger --teacher-top-k teaches more of the teacher` : line;
}

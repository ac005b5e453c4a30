// A fused kernel of the addon with no PyTorch op behind it: the default distillation loss (forward
// KL at temperature τ plus cross-entropy) of target rows and its gradient with respect to the
// student's logits, in three passes over each row (src/native/kd-loss.cpp). Autograd's version runs
// some twenty full-size elementwise kernels for the same numbers.
import { native } from '../native/index.js';
import { Tensor } from './tensor.js';

export interface FusedKdSettings {
  temperature: number;
  /** Weight of the KD term: the gradient is of α·Σkd + (1−α)·Σce, times `scale`. */
  alpha: number;
  /** Scales the gradient (1/N for a mean over the step's N target tokens). */
  scale: number;
  /** Only the first `shared` logits enter the KD term (teacher and student vocabularies may be padded differently). */
  shared: number;
  /** The kernel's plain loop even where it is vectorised (tests check both against the definitions). */
  plainLoop?: boolean;
}

/**
 * [Σ τ²·KL(p_T ‖ q_S), Σ CE] (float64) over rows of float32 CPU logits — student [N, V], teacher
 * [N, V_t] — with targets [N], and the gradient of α·Σkd + (1−α)·Σce, times `scale`, with respect to
 * the student's logits [N, V].
 */
export function fusedKdLoss(student: Tensor, teacher: Tensor, targets: Tensor, settings: FusedKdSettings): { sums: Tensor; grad: Tensor } {
  const [sums, grad] = native.kdLossRows(student.native, teacher.native, targets.native, settings.temperature, settings.alpha, settings.scale, settings.shared, settings.plainLoop ?? false);
  return { sums: new Tensor(sums), grad: new Tensor(grad) };
}

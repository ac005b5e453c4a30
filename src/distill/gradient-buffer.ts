// A parameter's gradient as a tensor to accumulate into in place (addmm_, index_add_), for the
// backward steps the trainer does by hand to avoid autograd's full-size temporaries.
import { type Tensor, zerosLike } from '../tensor/index.js';

/** A handle on `param`'s gradient, created as zeros when it has none yet (dispose the handle). */
export function gradientBuffer(param: Tensor): Tensor {
  const existing = param.grad;
  if (existing) return existing;
  const zeros = zerosLike(param);
  param.grad = zeros; // the gradient now shares the zeros' storage
  return zeros;
}

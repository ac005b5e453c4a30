// In-place parameter initialisers, as torch.nn.init (no autograd recording).
import { aten, noGrad, type Generator, type Tensor } from '../tensor/index.js';

export function normal_(t: Tensor, mean = 0, std = 1, generator?: Generator): Tensor {
  noGrad(() => aten('aten::normal_', t, mean, std, generator?.native).dispose());
  return t;
}

export function uniform_(t: Tensor, low: number, high: number, generator?: Generator): Tensor {
  noGrad(() => aten('aten::uniform_', t, low, high, generator?.native).dispose());
  return t;
}

export function zeros_(t: Tensor): Tensor {
  noGrad(() => t.zero_());
  return t;
}

export function ones_(t: Tensor): Tensor {
  noGrad(() => t.fill_(1));
  return t;
}

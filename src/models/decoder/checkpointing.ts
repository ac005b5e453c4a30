// Activation checkpointing for the decoder layers, over the existing autograd. The forward pass
// runs every layer without building a graph and keeps only each layer's input ([B, T, hidden]);
// the final norm is the only part recorded. Backward then walks the layers last to first: it runs
// the layer again from its kept input, with autograd on, and backpropagates the gradient of the
// layer's output through it, which leaves the gradient of the layer's input for the layer below.
// So at most one layer's activations exist at a time: per layer and token, hidden·4 bytes kept
// instead of everything the layer saves for backward (~45,000 floats per token at Qwen3-0.6B's size
// and 512 tokens). Each layer runs its forward twice: about a third more compute per step.
//
// Why not a native custom autograd function: libtorch would call back into JavaScript from its
// engine, for a recomputation that is already an ordinary forward in TypeScript. Driving the
// layers' backward passes from here keeps the binding generic (DESIGN.md) and the arithmetic the
// same ops in the same order, so gradients equal the recorded graph's.
import { getRngState, keep, noGrad, setRngState, type Tensor, tidy } from '../../tensor/index.js';
import type { ForwardOptions, LayerInputs, CausalLM } from './model.js';
import { LoraLinear } from '../../nn/index.js';

/** Whether a layer of the model drops out its LoRA adapter's input (in training mode). */
function hasAdapterDropout(model: CausalLM): boolean {
  return [...model.namedModules()].some(([, m]) => m instanceof LoraLinear && m.training && m.settings.dropout > 0);
}

export interface CheckpointedForward {
  /** Final-norm hidden states [B, T, hidden]; only the final norm is in their autograd graph. */
  hidden: Tensor;
  /**
   * After the gradient of `hidden` has been backpropagated (hidden.backward(...) or a loss built on
   * it): recomputes each layer and carries the gradient down to the embeddings. Releases what the
   * forward kept, also when it throws.
   */
  backward(): void;
  /** Releases what the forward kept, without backpropagating (on errors). */
  dispose(): void;
}

export function checkpointedHiddenStates(model: CausalLM, inputIds: Tensor, options: ForwardOptions = {}): CheckpointedForward {
  const decoder = model.model;
  const layers = decoder.layers.items;
  // With dropout (attention's, or LoRA adapters') the recomputation must draw the same masks: the
  // random state before each layer is kept and put back for its second run (as
  // torch.utils.checkpoint's preserve_rng_state).
  const random = model.training && (model.config.attentionDropout > 0 || hasAdapterDropout(model));
  const kept: Tensor[] = [];
  const hold = (t: Tensor): Tensor => {
    kept.push(keep(t));
    return t;
  };
  const layerInputs: Tensor[] = [];
  const rngStates: Tensor[] = [];
  let shared: LayerInputs;
  let embeddings: Tensor;
  let last: Tensor;
  let hidden: Tensor;
  try {
    ({ embeddings, shared, last, hidden } = tidy(() => {
      // The embeddings keep their graph (a lookup, or the caller's leaf): layer 0's recomputation
      // starts from them, so the gradient reaches the embedding weight or the caller's leaf.
      const start = decoder.layerInputs(inputIds, options);
      let h = start.embeddings;
      noGrad(() => {
        layers.forEach((layer, i) => {
          layerInputs.push(i === 0 ? h : hold(h));
          if (random) rngStates.push(hold(getRngState()));
          h = tidy(() => layer.forward(h, start.inputs));
        });
      });
      const lastOutput = h.detach().requiresGrad_();
      return { embeddings: start.embeddings, shared: start.inputs, last: lastOutput, hidden: decoder.norm.forward(lastOutput) };
    }));
    // The caller's own embeddings leaf stays the caller's to release.
    const own = embeddings === options.inputsEmbeds ? null : embeddings;
    for (const t of [own, last, shared.cos, shared.sin, shared.slidingCos, shared.slidingSin, shared.fullAllowed, shared.slidingAllowed, shared.fullBias, shared.slidingBias]) if (t) hold(t);
  } catch (error) {
    for (const t of kept) t.dispose();
    throw error;
  }

  const dispose = () => {
    for (const t of kept.splice(0)) t.dispose();
  };
  const backward = () => {
    try {
      const top = last.grad;
      if (!top) return;
      let grad: Tensor = hold(top);
      const resumeState = random ? hold(getRngState()) : null;
      for (let i = layers.length - 1; i >= 0; i--) {
        const below = tidy(() => {
          if (random) setRngState(rngStates[i]!);
          // Layer 0 starts from the embeddings themselves, so its backward reaches them.
          const input = i === 0 ? embeddings : layerInputs[i]!.requiresGrad_();
          layers[i]!.forward(input, shared).backward(grad);
          return i === 0 ? null : input.grad;
        });
        grad.dispose();
        if (i > 0) layerInputs[i]!.dispose();
        if (below) grad = hold(below);
      }
      if (resumeState) setRngState(resumeState);
    } finally {
      dispose();
    }
  };
  return { hidden, backward, dispose };
}

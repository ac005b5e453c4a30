// LoRA adapters on a CausalLM: applyLora wraps the targeted linear layers in place (LoraLinear), and
// the returned LoraAdapter is the handle training uses: the adapter's parameters under PEFT's key
// names (the only trainable tensors), loading them, and merging or removing the adapter.
import { type DType, type Generator, noGrad, type Tensor } from '../../tensor/index.js';
import { type Linear, LoraLinear, type Module, stateDictProblems } from '../../nn/index.js';
import type { CausalLM } from '../decoder/model.js';
import { type LoraConfig, LoraAdapterError } from './config.js';
import { savedTargetModules, selectTargets } from './targets.js';

/** PEFT's prefix on every adapter key: PeftModel.base_model (LoraModel) .model (the causal LM). */
export const PEFT_KEY_PREFIX = 'base_model.model.';

/** Whether a model parameter name is an adapter's (…lora_A.weight / …lora_B.weight), not the base's. */
export function isLoraParameterName(name: string): boolean {
  return /(^|\.)lora_[AB]\.weight$/.test(name);
}

export interface ApplyLoraOptions {
  /** Draws A's initial values (PEFT's kaiming-uniform); default libtorch's global generator. */
  generator?: Generator;
  /** Adapter dtype (default float32 over a bfloat16/float16 base, the base's dtype otherwise). */
  dtype?: DType;
  /** false: leave A and B uninitialised (their values are about to be loaded). */
  init?: boolean;
  /** Names the settings in errors (adapter_config.json's path, or the option). */
  source?: string;
}

/** A wrapped layer: its path, the module holding it and its name there. */
interface WrappedSlot {
  path: string;
  parent: Module;
  name: string;
  layer: LoraLinear;
}

export class LoraAdapter {
  readonly #model: CausalLM;
  readonly #slots: WrappedSlot[];
  /** Parameters (by name) that were trainable before applyLora froze them: trainable again after merge or remove. */
  readonly #frozenByApply: Set<string>;
  readonly config: LoraConfig;
  #attached = true;

  /** Use applyLora. */
  constructor(model: CausalLM, config: LoraConfig, slots: WrappedSlot[], frozenByApply: Set<string>) {
    this.#model = model;
    this.config = config;
    this.#slots = slots;
    this.#frozenByApply = frozenByApply;
  }

  /** The model the adapter is attached to. */
  get model(): CausalLM {
    return this.#model;
  }

  /** The wrapped layers by module path (model.layers.0.self_attn.q_proj, ...). */
  get layers(): ReadonlyMap<string, LoraLinear> {
    this.#checkAttached();
    return new Map(this.#slots.map((s) => [s.path, s.layer]));
  }

  /** The adapter's tensors under PEFT's keys (base_model.model.<path>.lora_A.weight [r, in], .lora_B.weight [out, r]), in model order. */
  namedParameters(): [string, Tensor][] {
    this.#checkAttached();
    return this.#slots.flatMap(({ path, layer }) => [
      [`${PEFT_KEY_PREFIX}${path}.lora_A.weight`, layer.lora_A.weight] as [string, Tensor],
      [`${PEFT_KEY_PREFIX}${path}.lora_B.weight`, layer.lora_B.weight] as [string, Tensor],
    ]);
  }

  /** The trainable tensors (what the optimizer steps; the base's are frozen). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  numParameters(): number {
    return this.parameters().reduce((n, t) => n + t.numel, 0);
  }

  /** PEFT's adapter state dict (live tensors, not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters());
  }

  /**
   * Copies values into A and B (converting dtype and device), keyed as PEFT keys them. Every key
   * must be given with its shape, or nothing is copied and the error lists what is missing,
   * unexpected or mis-shaped, against `source`.
   */
  loadStateDict(values: Map<string, Tensor>, source = 'adapter state dict'): void {
    const own = this.stateDict();
    const shapes = (m: Map<string, Tensor>) => new Map([...m].map(([k, t]) => [k, t.shape] as const));
    const problems = stateDictProblems(shapes(own), shapes(values), { given: 'stored', own: 'base model' });
    if (problems.length > 0) throw new LoraAdapterError(`${source} does not fit the adapter on this base model (${problems.join('; ')})`);
    noGrad(() => {
      for (const [key, p] of own) p.copy_(values.get(key)!);
    });
  }

  /** target_modules as adapter_config.json records them. */
  get savedTargetModules(): readonly string[] | string {
    return savedTargetModules(this.config, this.#slots);
  }

  /**
   * Merges every adapter into its base weight (W + scale·B·A, summed in float32 or wider and
   * rounded once to the base's dtype) and puts plain linear layers back: the model is then an
   * ordinary CausalLM that saveCausalLM writes as a Hugging Face folder. The adapter is released.
   */
  merge(): void {
    this.#detach((layer) => layer.merge());
  }

  /** Takes the adapters out, leaving the base weights as they were (trainable again if they were). The adapter is released. */
  remove(): void {
    this.#detach((layer) => layer.unwrap());
  }

  /** Releases the adapter's tensors without touching the model (which should then be disposed too). */
  dispose(): void {
    for (const { layer } of this.#slots) {
      layer.lora_A.dispose();
      layer.lora_B.dispose();
    }
    this.#attached = false;
  }

  #detach(replacement: (layer: LoraLinear) => Linear): void {
    this.#checkAttached();
    for (const { parent, name, layer } of this.#slots) parent.replaceModule(name, replacement(layer));
    for (const [name, p] of this.#model.namedParameters()) if (this.#frozenByApply.has(name)) p.requiresGrad_(true);
    this.#attached = false;
  }

  #checkAttached(): void {
    if (!this.#attached) throw new LoraAdapterError('this LoRA adapter was merged, removed or disposed');
  }
}

/**
 * Wraps the layers `config` targets in LoraLinear layers, in place: the base weights are frozen
 * (requiresGrad false) and the model's forward now adds scale·B·A·x; with B = 0 (the default
 * initialisation) its outputs are exactly the base model's.
 */
export function applyLora(model: CausalLM, config: LoraConfig, options: ApplyLoraOptions = {}): LoraAdapter {
  const source = options.source ?? 'LoRA settings';
  if (!Number.isSafeInteger(config.rank) || config.rank < 1) throw new LoraAdapterError(`${source}: r (the rank) must be a positive integer, got ${config.rank}`);
  if (!Number.isFinite(config.alpha)) throw new LoraAdapterError(`${source}: lora_alpha must be a number, got ${config.alpha}`);
  if (!(config.dropout >= 0 && config.dropout < 1)) throw new LoraAdapterError(`${source}: lora_dropout must be in [0, 1), got ${config.dropout}`);
  const slots = selectTargets(model, config, source);
  const wrapped = slots.map((slot) => {
    const layer = new LoraLinear(slot.layer, config, { generator: options.generator, dtype: options.dtype, init: options.init });
    slot.parent.replaceModule(slot.name, layer);
    return { path: slot.path, parent: slot.parent, name: slot.name, layer };
  });
  // Every weight the adapter does not wrap is frozen too: only A and B train.
  const frozen = new Set<string>();
  for (const [name, p] of model.namedParameters()) {
    if (isLoraParameterName(name) || !p.requiresGrad) continue;
    p.requiresGrad_(false);
    frozen.add(name);
  }
  return new LoraAdapter(model, config, wrapped, frozen);
}

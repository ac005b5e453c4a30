// Which layers of a CausalLM an adapter wraps, by PEFT's rules (tuners_utils.check_target_module_exists):
// a list of names targets every module whose path equals a name or ends with `.name`; a string is a
// regular expression the whole path must match; 'all-linear' is every linear layer but the output
// layer; layers_to_transform keeps only the given decoder layers. Paths are the checkpoint's
// (model.layers.0.self_attn.q_proj), the same ones PEFT sees in transformers' model.
import { Linear, LoraLinear, type Module } from '../../nn/index.js';
import type { CausalLM } from '../decoder/model.js';
import { type LoraConfig, LoraAdapterError } from './config.js';

/** A linear layer that may carry an adapter: its path, the module holding it and its name there. */
export interface TargetSlot {
  path: string;
  parent: Module;
  name: string;
  layer: Linear;
}

/** A whole-path regular expression from PEFT's (Python re.fullmatch) string, or an error naming where it came from. */
function fullMatcher(pattern: string, field: string, source: string): RegExp {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (error) {
    throw new LoraAdapterError(`${source}: ${field} '${pattern}' is not a valid regular expression (${(error as Error).message})`);
  }
}

/** Whether `path` is named by a target_modules/exclude_modules value. */
function named(path: string, names: readonly string[] | RegExp): boolean {
  if (names instanceof RegExp) return names.test(path);
  return names.some((name) => path === name || path.endsWith(`.${name}`));
}

/** The decoder layer index in `path` as layers_pattern finds it; null when it has none. */
function layerIndex(path: string, patterns: readonly string[] | string | null): number | null {
  const list = patterns === null ? [] : typeof patterns === 'string' ? [patterns] : patterns;
  const forms = list.length === 0 ? [/.*\.[^.]*\.(\d+)\./] : list.map((p) => new RegExp(`.*\\.${p}\\.(\\d+)\\.`));
  for (const form of forms) {
    const match = form.exec(path);
    if (match) return Number(match[1]);
  }
  return null;
}

/** Every module of the model by path, each with its parent and its name there. */
function modulesByPath(model: CausalLM): Map<string, { module: Module; parent: Module | null; name: string }> {
  const byPath = new Map<string, { module: Module; parent: Module | null; name: string }>();
  for (const [path, module] of model.namedModules()) {
    const cut = path.lastIndexOf('.');
    const parentPath = cut < 0 ? '' : path.slice(0, cut);
    byPath.set(path, { module, parent: path === '' ? null : byPath.get(parentPath)!.module, name: path.slice(cut + 1) });
  }
  return byPath;
}

/**
 * The linear layers `config` targets in `model`, in model order; `source` names the config in
 * errors (adapter_config.json's path, or the option). Refused: a target that names no module, or one
 * that names something other than a decoder linear layer (embeddings, norms, the LM head), and a
 * model that already has adapters.
 */
export function selectTargets(model: CausalLM, config: LoraConfig, source: string): TargetSlot[] {
  const modules = modulesByPath(model);
  const paths = [...modules.keys()].filter((p) => p !== '');
  const linearPaths = paths.filter((p) => modules.get(p)!.module instanceof Linear);
  if (linearPaths.some((p) => modules.get(p)!.module instanceof LoraLinear)) throw new LoraAdapterError(`${source}: the model already has LoRA adapters; merge or remove them first`);
  // The losses read the LM head's weight directly (tied to embed_tokens or not): an adapter there
  // would be bypassed, so the head is refused; so are embeddings (PEFT's lora_embedding_A/B).
  // lm_head is a candidate even when tied (transformers' model has the module; ours shares the weight).
  const headPaths = ['lm_head', 'model.embed_tokens'];
  const decoderLinears = linearPaths.filter((p) => p !== 'lm_head');
  let targets: readonly string[] | RegExp;
  if (config.targetModules === 'all-linear') targets = [...new Set(decoderLinears.map((p) => p.slice(p.lastIndexOf('.') + 1)))];
  else if (typeof config.targetModules === 'string') targets = fullMatcher(config.targetModules, 'target_modules', source);
  else targets = config.targetModules;
  if (Array.isArray(targets)) {
    const unknown = targets.filter((name) => name !== 'lm_head' && !paths.some((p) => named(p, [name])));
    if (unknown.length > 0) {
      throw new LoraAdapterError(
        `${source}: target_modules ${unknown.map((n) => `'${n}'`).join(', ')} name no module of this ${model.config.modelType} model; its linear layers are ${[...new Set(decoderLinears.map((p) => p.slice(p.lastIndexOf('.') + 1)))].join(', ')}`,
      );
    }
  }
  const excluded = config.excludeModules === null ? [] : typeof config.excludeModules === 'string' ? fullMatcher(config.excludeModules, 'exclude_modules', source) : config.excludeModules;
  const layers = config.layersToTransform === null ? null : typeof config.layersToTransform === 'number' ? [config.layersToTransform] : config.layersToTransform;
  const chosen = [...paths, ...headPaths.filter((p) => !modules.has(p))].filter((path) => {
    if (!named(path, targets) || named(path, excluded)) return false;
    // As PEFT, layers_to_transform applies to a list of names only.
    if (layers === null || !Array.isArray(targets)) return true;
    const index = layerIndex(path, config.layersPattern);
    return index !== null && layers.includes(index);
  });
  const head = chosen.find((p) => headPaths.includes(p));
  if (head) throw new LoraAdapterError(`${source}: target_modules selects ${head}; adapters on the LM head or embeddings are not supported (only the decoder's linear layers)`);
  const notLinear = chosen.filter((p) => !(modules.get(p)!.module instanceof Linear));
  if (notLinear.length > 0) throw new LoraAdapterError(`${source}: target_modules names ${notLinear.join(', ')}, which ${notLinear.length === 1 ? 'is not a linear layer' : 'are not linear layers'}; LoRA wraps linear layers only`);
  if (chosen.length === 0) throw new LoraAdapterError(`${source}: target_modules ${JSON.stringify(config.targetModules)} (with its exclude_modules / layers_to_transform) selects no layer of this model`);
  return chosen.map((path) => {
    const { module, parent, name } = modules.get(path)!;
    return { path, parent: parent!, name, layer: module as Linear };
  });
}

/** target_modules as an adapter_config.json writes it: 'all-linear' expanded to the names it selected (as PEFT saves it). */
export function savedTargetModules(config: LoraConfig, slots: readonly TargetSlot[]): readonly string[] | string {
  return config.targetModules === 'all-linear' ? [...new Set(slots.map((s) => s.name))] : config.targetModules;
}

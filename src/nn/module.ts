// Module: a tree of named parameters whose dotted paths are the checkpoint's weight names
// (as in torch.nn.Module), so loading and saving a Hugging Face state dict is a dictionary walk.
import { keep, noGrad, type DType, type Tensor } from '../tensor/index.js';

export abstract class Module {
  training = true;
  readonly #parameters = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  /** Registers a trainable parameter: kept out of tidy scopes, requiring grad. */
  protected registerParameter(name: string, value: Tensor): Tensor {
    if (this.#parameters.has(name) || this.#children.has(name)) throw new Error(`duplicate module member '${name}'`);
    keep(value);
    if (value.isFloatingPoint && !value.requiresGrad) value.requiresGrad_(true);
    this.#parameters.set(name, value);
    return value;
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    if (this.#parameters.has(name) || this.#children.has(name)) throw new Error(`duplicate module member '${name}'`);
    this.#children.set(name, module);
    return module;
  }

  /**
   * Puts `module` in place of the child registered under `name`, keeping its position (so parameter
   * order is unchanged), and the attribute of the same name when it held the old child: module
   * attribute paths are checkpoint names, so `attn.q_proj` and the `q_proj.` names stay one thing
   * (as setattr on a torch.nn.Module). Used to wrap layers in place, e.g. with LoRA adapters.
   */
  replaceModule(name: string, module: Module): Module {
    const old = this.#children.get(name);
    if (old === undefined) throw new Error(`no child module '${name}' to replace`);
    this.#children.set(name, module);
    const self = this as unknown as Record<string, unknown>;
    if (self[name] === old) self[name] = module;
    return old;
  }

  /** The parameter registered under `name` on this module. */
  protected param(name: string): Tensor {
    const value = this.#parameters.get(name);
    if (value === undefined) throw new Error(`no parameter '${name}'`);
    return value;
  }

  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    for (const [name, value] of this.#parameters) yield [prefix + name, value];
    for (const [name, child] of this.#children) yield* child.namedParameters(`${prefix}${name}.`);
  }

  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, value]) => value);
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix.replace(/\.$/, ''), this];
    for (const [name, child] of this.#children) yield* child.namedModules(`${prefix}${name}.`);
  }

  /** Parameter count, for logs and reports. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.numel, 0);
  }

  /** The live parameter tensors by dotted name (not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters());
  }

  /**
   * Copies values into the parameters (converting dtype and device). Every parameter must be
   * given and every given tensor must be a parameter, with the same shape: otherwise nothing is
   * copied and the error lists the offending names.
   */
  loadStateDict(values: Map<string, Tensor>, source = 'state dict'): void {
    const own = this.stateDict();
    const problems = stateDictProblems(shapesOf(own), shapesOf(values), { given: source, own: 'model' });
    if (problems.length) throw new Error(`cannot load ${source}: ${problems.join('; ')}`);
    noGrad(() => {
      for (const [k, p] of own) p.copy_(values.get(k)!);
    });
  }

  train(mode = true): this {
    for (const [, module] of this.namedModules()) module.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Clears every parameter's gradient (sets it to none, freeing the memory). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /**
   * Converts every parameter to a dtype and/or device in place of the old one (the old
   * tensors are released). Returns this module.
   */
  to(target: { dtype?: DType; device?: string }): this {
    for (const [, module] of this.namedModules()) module.#convertOwn(target);
    return this;
  }

  #convertOwn(target: { dtype?: DType; device?: string }): void {
    for (const [name, old] of this.#parameters) {
      const trainable = old.requiresGrad;
      const converted = noGrad(() => old.to(target, { copy: true }));
      keep(converted);
      if (trainable) converted.requiresGrad_(true);
      old.dispose();
      this.#parameters.set(name, converted);
    }
  }

  /** Releases every parameter's native memory. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}

/** An indexed list of modules whose parameter names are `0.…`, `1.…` (torch.nn.ModuleList). */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.registerModule(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
  at(index: number): M {
    const m = this.items[index];
    if (m === undefined) throw new RangeError(`ModuleList index ${index} out of range (length ${this.items.length})`);
    return m;
  }
}

const shapesOf = (tensors: Map<string, Tensor>) => new Map([...tensors].map(([name, t]) => [name, t.shape] as const));

/**
 * Why tensors named and shaped as `given` cannot load into parameters shaped as `own`: phrases
 * listing the missing, unexpected and mis-shaped names (none when they fit). `words` names the two
 * sides in the shape phrases, e.g. "checkpoint [80,48] vs config [64,48]".
 */
export function stateDictProblems(own: Map<string, readonly number[]>, given: Map<string, readonly number[]>, words: { given: string; own: string }): string[] {
  const missing = [...own.keys()].filter((name) => !given.has(name));
  const unexpected = [...given.keys()].filter((name) => !own.has(name));
  const mismatched = [...own].flatMap(([name, shape]) => {
    const other = given.get(name);
    return other && other.join(',') !== shape.join(',') ? [`${name}: ${words.given} [${other}] vs ${words.own} [${shape}]`] : [];
  });
  return [
    missing.length ? `missing: ${missing.join(', ')}` : '',
    unexpected.length ? `unexpected: ${unexpected.join(', ')}` : '',
    mismatched.length ? `shape mismatch: ${mismatched.join('; ')}` : '',
  ].filter(Boolean);
}

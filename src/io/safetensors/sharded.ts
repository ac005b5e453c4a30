// A checkpoint that may be one model.safetensors or several shards listed by
// model.safetensors.index.json ({ metadata, weight_map: { tensor: shard file } }).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DType, Tensor } from '../../tensor/index.js';
import { SafetensorsError, type TensorInfo } from './format.js';
import { SafetensorsFile } from './reader.js';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

export class SafetensorsCheckpoint {
  readonly #files = new Map<string, SafetensorsFile>();
  readonly #where: Map<string, string>;

  private constructor(where: Map<string, string>) {
    this.#where = where;
  }

  /** Opens a folder's checkpoint (index or single file), a .safetensors file, or an index file. */
  static open(path: string): SafetensorsCheckpoint {
    if (path.endsWith('.json')) return SafetensorsCheckpoint.#fromIndex(path);
    if (path.endsWith('.safetensors')) return SafetensorsCheckpoint.#fromFiles([path]);
    const index = join(path, INDEX_FILE);
    if (existsSync(index)) return SafetensorsCheckpoint.#fromIndex(index);
    const single = join(path, SINGLE_FILE);
    if (existsSync(single)) return SafetensorsCheckpoint.#fromFiles([single]);
    throw new SafetensorsError('IO', path, `no ${INDEX_FILE} or ${SINGLE_FILE} in this folder`);
  }

  static #fromFiles(paths: string[]): SafetensorsCheckpoint {
    const files = paths.map((p) => SafetensorsFile.open(p));
    const where = new Map<string, string>();
    for (const file of files) for (const name of file.names()) where.set(name, file.path);
    const checkpoint = new SafetensorsCheckpoint(where);
    for (const file of files) checkpoint.#files.set(file.path, file);
    return checkpoint;
  }

  static #fromIndex(indexPath: string): SafetensorsCheckpoint {
    let index: unknown;
    try {
      index = JSON.parse(readFileSync(indexPath, 'utf8'));
    } catch (error) {
      throw new SafetensorsError('BAD_INDEX', indexPath, `cannot read the shard index: ${(error as Error).message}`);
    }
    const weightMap = (index as { weight_map?: unknown })?.weight_map;
    if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
      throw new SafetensorsError('BAD_INDEX', indexPath, 'weight_map must be an object mapping tensor names to shard files');
    }
    const where = new Map<string, string>();
    for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
      if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) {
        throw new SafetensorsError('BAD_INDEX', indexPath, `weight_map['${name}'] must be a shard file name in the same folder`);
      }
      const shardPath = join(dirname(indexPath), shard);
      if (!existsSync(shardPath)) throw new SafetensorsError('BAD_INDEX', indexPath, `shard ${shard} (for '${name}') does not exist`);
      where.set(name, shardPath);
    }
    const checkpoint = new SafetensorsCheckpoint(where);
    // Every tensor the index names must be in the shard it names.
    for (const [name, shardPath] of where) {
      if (!checkpoint.#file(shardPath).has(name)) {
        throw new SafetensorsError('BAD_INDEX', indexPath, `weight_map puts '${name}' in ${shardPath}, which does not contain it`);
      }
    }
    return checkpoint;
  }

  #file(path: string): SafetensorsFile {
    let file = this.#files.get(path);
    if (!file) {
      file = SafetensorsFile.open(path);
      this.#files.set(path, file);
    }
    return file;
  }

  names(): string[] {
    return [...this.#where.keys()];
  }

  has(name: string): boolean {
    return this.#where.has(name);
  }

  info(name: string): TensorInfo {
    const path = this.#where.get(name);
    if (path === undefined) throw new SafetensorsError('UNKNOWN_TENSOR', [...new Set(this.#where.values())].join(', '), 'no such tensor in the checkpoint', name);
    return this.#file(path).info(name);
  }

  tensor(name: string, options: { dtype?: DType; device?: string } = {}): Tensor {
    this.info(name);
    return this.#file(this.#where.get(name)!).tensor(name, options);
  }

  close(): void {
    for (const file of this.#files.values()) file.close();
    this.#files.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

// The families Distillery builds, by config.json's model_type.
import type { FamilyDescription } from '../decoder/family.js';
import { GEMMA3_TEXT } from './gemma3.js';
import { LLAMA } from './llama.js';
import { MISTRAL } from './mistral.js';
import { QWEN2 } from './qwen2.js';
import { QWEN3 } from './qwen3.js';

export const FAMILIES: ReadonlyMap<string, FamilyDescription> = new Map([QWEN3, QWEN2, LLAMA, MISTRAL, GEMMA3_TEXT].map((f) => [f.modelType, f]));

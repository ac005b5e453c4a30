export { Module, ModuleList, stateDictProblems } from './module.js';
export { Linear, Embedding, RMSNorm, type ParamOptions } from './layers.js';
export { normal_, uniform_, zeros_, ones_ } from './init.js';
export { AdamW, decayParamGroups, clipGradNorm, clipCoefficient, gradNorm, type AdamWOptions, type ParamGroup, type AdamWStateDict } from './optim.js';
export { LoraLinear, loraScale, defaultAdapterDtype, type LoraSettings, type LoraLinearOptions } from './lora.js';

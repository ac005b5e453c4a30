/**
 * `distillery/tensor`: the tensor engine (libtorch tensors with PyTorch's names, autograd, `tidy`
 * scopes for memory, random generators, safetensors) and the nn layers (Module, Linear, RMSNorm,
 * AdamW, ...) that Distillery's models are built from.
 * @packageDocumentation
 */
export * from './tensor/index.js';
export * from './nn/index.js';

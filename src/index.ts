/**
 * Distillery: distill a large causal language model (the teacher, e.g. Qwen3-4B) into a small one
 * (the student, e.g. Qwen3-0.6B), in TypeScript over libtorch.
 *
 * @example
 * import { distill } from 'distillery';
 * const { summary } = await distill({ teacher: 'Qwen/Qwen3-4B', student: 'Qwen/Qwen3-0.6B', data: 'train.jsonl', out: 'runs/a' });
 *
 * The tensor engine and nn layers (Tensor, tidy, AdamW, ...) are in `distillery/tensor`.
 * Objects the functions return are camelCase; the files a run writes (metrics.jsonl, summary.json)
 * hold the same keys snake_cased (`gapClosed` ↔ `gap_closed`).
 * @packageDocumentation
 */
export { distill, distillRecords, type DistillCallbacks, type DistillOptions, type DistillRunResult, type DistillSettings } from './api/distill.js';
export { cacheTeacher, type CacheTeacherOptions } from './api/cache-teacher.js';
export { evaluate, type EvaluateOptions, type EvaluateResult } from './api/evaluate.js';
export { generateText, type GenerateTextOptions, type GenerateTextResult } from './api/generate.js';
export { generateData, type GenerateDataOptions, type GenerateDataResult } from './api/generate-data.js';
export { initModel, type InitModelOptions, type InitModelResult } from './api/init-model.js';
export { loadModel, saveModel, type LoadModelOptions, type LoadOptions, type SaveOptions } from './api/models.js';
export { mergeLora, type MergeLoraOptions, type MergeLoraResult } from './api/merge-lora.js';
export { writeReport, type ReportOptions, type ReportResult } from './api/report.js';
export { serve, type ServeHandle, type ServeOptions } from './api/serve.js';
export type { AbortSignalLike } from './api/options.js';
export type { EvalRecord, MetricsRecord, TrainRecord } from './api/records.js';
export type { DistillConfig } from './distill/config.js';
export type { StepReport } from './distill/hooks.js';
export type { RunSummary } from './distill/summary.js';
export type { CacheManifest } from './distill/teacher-cache/format.js';
// Every error class the functions above throw; each message names the option, file or field at fault.
export { OptionsError } from './api/options.js';
export { AddonMissingError } from './native/index.js';
export { ConfigError } from './distill/config.js';
export { DivergenceError } from './distill/trainer.js';
export { NonFiniteLossError } from './distill/step.js';
export { DiskSpaceError } from './distill/disk-space.js';
export { FileWriteError } from './io/atomic.js';
export { MemoryLimitError } from './distill/memory/limit.js';
export { MemoryPlanError } from './distill/memory/plan.js';
export { DataError, MissingSplitError } from './data/errors.js';
export { TokenizerError } from './tokenizer/tokenizer.js';
export { ModelConfigError } from './models/decoder/config.js';
export { SafetensorsError } from './io/safetensors/format.js';
export { LoraAdapterError } from './models/lora/config.js';
export { HubError } from './io/hub/download.js';
export { ResumableLinesError } from './io/resumable-lines.js';
export { RunFolderError } from './report/run-folder.js';
export { CausalLM } from './models/decoder/model.js';
export type { DecoderConfig } from './models/decoder/config.js';
export { PRESETS } from './models/decoder/presets.js';

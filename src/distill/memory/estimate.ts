// The peak memory of a distillation run, from the model configs and the run's settings, before any
// weight is loaded. A run has three phases with different live sets:
//   step        fixed state + max(teacher forward, student activations + loss chunks)
//               (the teacher runs first in each micro-batch, so its working set is gone before
//               the student's activations exist; gradients of earlier micro-batches are live)
//   optimizer   fixed state + the gradients (bf16 compute in one process: the bf16 ones, which the
//               optimizer reads in one pass; across ranks: converted into float32 on the masters)
//   evaluation  fixed state without gradients + one no-grad forward of each model + logits chunks
// The peak is the largest. Activation sizes per token and layer are fitted to what libtorch's
// allocator measured for this code (scripts in the README's memory section): they count the
// tensors autograd saves for backward, which no formula of the model alone gives exactly.
import type { DecoderConfig } from '../../models/decoder/config.js';
import { parameterCount } from '../../models/decoder/size.js';
import type { Kernels } from '../../tensor/index.js';

export type ComputeDtype = 'float32' | 'bfloat16' | 'float16';

const BYTES: Record<ComputeDtype, number> = { float32: 4, bfloat16: 2, float16: 2 };

export interface PlanInput {
  student: DecoderConfig;
  /** Student compute dtype; master weights, gradients and AdamW moments are float32 either way. */
  studentDtype: 'float32' | 'bfloat16';
  /** null when no teacher is loaded (an offline teacher cache, or cross-entropy only). */
  teacher: DecoderConfig | null;
  teacherDtype: ComputeDtype;
  /** The teacher runs on another device than the student: its share is planned there. */
  teacherElsewhere: boolean;
  /** Tokens of the longest training example (after --max-length), and of the longest held-out one. */
  sequenceLength: number;
  evalSequenceLength: number;
  evalBatchSize: number;
  lossImpl: 'chunked' | 'naive';
  /** Target rows per chunk of the chunked loss (and of evaluation's logits). */
  lossChunkRows: number;
  /** Resident memory of the process before any weight is loaded (runtime, data, tokenizer). */
  runtimeBytes: number;
  /**
   * The kernels the student runs at its compute dtype (tensor/kernels.ts; the teacher's forward on
   * the same device uses the same attention): SDPA keeps no [T × T] matrices, the fused norm,
   * rotary and SwiGLU kernels keep fewer tensors for backward.
   */
  kernels: Kernels;
  /** Micro-batches per optimizer step as configured (--grad-accum). */
  gradAccum: number;
  /** Sequences per micro-batch as configured (--batch-size): the plan may split them. */
  batchSize: number;
  /** A teacher of another tokenizer (--cross-tokenizer): each loss chunk holds both vocabularies' rows. */
  crossTokenizer?: boolean;
  /** The teacher's tokens for the longest example when its tokenizer is another (default: sequenceLength). */
  teacherSequenceLength?: number;
  /** Several teachers: the local ones after `teacher` (all loaded at once; their forwards run in turn). */
  otherTeachers?: DecoderConfig[];
  /** Several teachers: how many are combined in each loss chunk (local, cached or served). */
  ensembleMembers?: number;
  /**
   * Several data-parallel ranks: a mixed-precision student's gradients are summed across them as
   * float32 on the masters (in one process the optimizer reads the bf16 gradients themselves).
   */
  dataParallel?: boolean;
  /** A LoRA student: its weights frozen in the compute dtype; only the adapters have gradients and AdamW state. */
  lora?: { parameters: number; inputFeaturesPerLayer: number; rank: number } | null;
}

export interface StepShape {
  /** Sequences per forward/backward pass. */
  microBatchSize: number;
  gradientCheckpointing: boolean;
}

/** Forward/backward passes per optimizer step (per rank) when each batch is split into `microBatchSize` pieces. */
export function passesPerStep(batchSize: number, microBatchSize: number, gradAccum: number): number {
  return Math.ceil(batchSize / microBatchSize) * gradAccum;
}

export interface MemoryComponent {
  name: string;
  bytes: number;
  /** How the figure was reached, in words. */
  detail: string;
}

export type Phase = 'training step' | 'optimizer step' | 'evaluation';

export interface MemoryEstimate {
  /** The components live at the peak, largest phase; they add up to `peakBytes`. */
  components: MemoryComponent[];
  peakBytes: number;
  phase: Phase;
  /** Every phase's live components (the peak is the largest sum). */
  phases: Record<Phase, MemoryComponent[]>;
  /** The teacher's own device, when it is not the student's. */
  teacherDevice: { components: MemoryComponent[]; peakBytes: number } | null;
}

/** Freed memory the CPU block cache may keep beyond the peak of live memory (cpu-block-cache.cpp). */
const ALLOCATOR_SLACK = 256 * 2 ** 20;
const MIB = 2 ** 20;

/**
 * Bytes per normalised element an RMSNorm of ATen ops keeps beyond the fused kernel's input copy:
 * its float32 input, the normalised float32 values and their product with the weight (measured
 * ~14 per element in bf16 for Gemma's (1 + w) norms, where the fused kernel keeps 2).
 */
const UNFUSED_NORM_BYTES = 12;

/**
 * What a family's layer keeps beyond the layer the formulas below were fitted on (Qwen3's: q/k
 * norms, two norms, SwiGLU, unscaled scores), per token: without q/k norms their inputs are not
 * kept; Gemma's two further norms keep theirs (and in the ATen path their float32 copies), a
 * GeLU-gated MLP keeps the activation's output as unfused SiLU does. Biases and windows keep nothing more:
 * the eager attention builds full [T × S] scores either way.
 */
function familyExtraPerTokenLayer(c: DecoderConfig, e: number, t: number, fusedNorms: boolean, fusedSwiglu: boolean): number {
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const perNorm = (width: number) => (fusedNorms ? e : UNFUSED_NORM_BYTES + e) * width;
  let extra = 0;
  if (!c.qkNorm) extra -= perNorm(q + kv);
  if (c.sandwichNorms) extra += 2 * perNorm(c.hiddenSize);
  if (c.hiddenAct !== 'silu' && fusedSwiglu) extra += e * c.intermediateSize;
  return extra;
}

/**
 * Bytes autograd keeps per token for one decoder layer's backward at sequence length `t`, fitted
 * to libtorch 1.13's allocator measurements of this model code (2 × 256 and 1 × 512 tokens;
 * hidden 512–1,024, 4–8 KV heads, 8–16 heads, intermediate 1,536–3,072; within 6 %): the norms
 * work in float32 whatever the dtype, the attention probabilities are float32 (plus a cast copy in
 * bf16), and the repeated KV heads are materialised.
 */
function savedPerTokenLayer(c: DecoderConfig, e: number, t: number, fused = false): number {
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const probs = fused ? 0 : c.numAttentionHeads * t * (e === 4 ? 4 : 4 + e);
  const attention = e === 4 ? 28 * q : 13 * q;
  return 32 * c.hiddenSize + 12 * kv + attention + 4 * e * c.intermediateSize + probs + familyExtraPerTokenLayer(c, e, fused ? 0 : t, false, false);
}

/**
 * The same where the fused CPU kernels run the norms and rotary (eager attention), counted from what
 * each op keeps rather than fitted: every norm its input (two of H, the q and k heads), the q/k/v and
 * gate/up projections their shared input, the attention products the rotated q and k, v, and the
 * float32 probabilities (plus a cast copy in bf16), o_proj and down_proj their inputs, and the MLP
 * gate and up (silu's output too where SwiGLU is not fused).
 */
function savedPerTokenLayerFused(c: DecoderConfig, e: number, t: number, fusedSwiglu: boolean): number {
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const probs = c.numAttentionHeads * t * (e === 4 ? 4 : 4 + e);
  // Gemma's (1 + w) norms take the fused kernel in float32 only; in bf16 every norm is ATen's.
  const fusedNorms = c.normStyle === 'weight' || e === 4;
  const normWidths = 2 * c.hiddenSize + (c.qkNorm ? q + kv : 0);
  const unfusedNorms = fusedNorms ? 0 : UNFUSED_NORM_BYTES * normWidths;
  return e * (4 * c.hiddenSize + 3 * q + 3 * kv) + unfusedNorms + (fusedSwiglu ? 3 : 4) * e * c.intermediateSize + probs + familyExtraPerTokenLayer(c, e, t, fusedNorms, fusedSwiglu);
}

/** Extra bytes per token while one layer runs (its intermediates live until the layer's scope ends). */
function transientPerTokenLayer(c: DecoderConfig, e: number, t: number, fused = false): number {
  return (fused ? 0 : c.numAttentionHeads * t * (e === 4 ? 18 : 12)) + (e === 4 ? 8 : 20) * c.hiddenSize;
}

/** Peak bytes of a no-grad forward pass over `tokens` tokens of sequences of length `t`. */
function noGradForward(c: DecoderConfig, e: number, tokens: number, t: number, fused = false): number {
  return tokens * (savedPerTokenLayer(c, e, t, fused) + transientPerTokenLayer(c, e, t, fused) + 4 * e * c.hiddenSize);
}

/** Bytes of one chunk of the loss: ~9 [rows × V] float32 buffers (logits, softmaxes, gradients). */
function lossChunkBytes(rows: number, vocab: number): number {
  return 9 * rows * vocab * 4;
}

/**
 * A cross-tokenizer chunk, in float32-sized buffers per row: the student's rows through autograd
 * (~9), gold's one-token spans over the shared vocabulary in float64 (~10) and ULD's sort (values and
 * int64 indices, ~3 more than autograd's); the teacher's rows — allowed twice the student's, as spans
 * of several teacher tokens take more — as logits, tempered log-softmax, probabilities and their sort
 * (~7 each), and its float64 copy for gold (~4).
 */
function crossLossChunkBytes(rows: number, studentVocab: number, teacherVocab: number): number {
  return rows * (22 * studentVocab + 18 * teacherVocab) * 4;
}

/**
 * What a mixture or routing of several teachers adds to a chunk: each teacher's rows as logits (or
 * its top-k spread over the vocabulary) and tempered log-probabilities (~3 [rows × V] float32
 * buffers each), the stack they are mixed in and the mixture (~2).
 */
function ensembleChunkBytes(rows: number, vocab: number, members: number): number {
  return members > 1 ? (3 * members + 2) * rows * vocab * 4 : 0;
}

const mb = (bytes: number) => `${Math.round(bytes / MIB).toLocaleString('en-US')} MB`;

export function estimateMemory(input: PlanInput, shape: StepShape): MemoryEstimate {
  const s = input.student;
  const e = BYTES[input.studentDtype];
  const te = BYTES[input.teacherDtype];
  const studentParams = parameterCount(s);
  const localTeachers = input.teacher ? [input.teacher, ...(input.otherTeachers ?? [])] : [];
  const teacherParams = localTeachers.reduce((n, c) => n + parameterCount(c), 0);
  const t = input.sequenceLength;
  const tokens = shape.microBatchSize * t;
  const mixed = input.studentDtype !== 'float32';

  const runtime: MemoryComponent = { name: 'runtime', bytes: input.runtimeBytes + ALLOCATOR_SLACK, detail: `process before loading (${mb(input.runtimeBytes)}) + allocator cache slack` };
  const teacherWeights: MemoryComponent = {
    name: 'teacher_weights', bytes: teacherParams * te,
    detail: `${(teacherParams / 1e9).toFixed(2)}B parameters × ${te} bytes (${input.teacherDtype})${localTeachers.length > 1 ? `, ${localTeachers.length} teachers` : ''}`,
  };
  // A LoRA student: the frozen weights once, in the compute dtype, and float32 adapters; only they train.
  const lora = input.lora ?? null;
  const trained = lora ? lora.parameters : studentParams;
  const master: MemoryComponent = lora
    ? { name: 'student_weights', bytes: studentParams * e + lora.parameters * 4, detail: `${(studentParams / 1e9).toFixed(2)}B frozen parameters × ${e} bytes + ${(lora.parameters / 1e6).toFixed(1)}M LoRA parameters × 4 bytes` }
    : { name: 'student_weights', bytes: studentParams * 4, detail: `${(studentParams / 1e9).toFixed(2)}B parameters × 4 bytes (float32 masters)` };
  const computeCopy: MemoryComponent = lora
    ? { name: 'student_compute_copy', bytes: 0, detail: 'none (LoRA: the frozen weights run forward and backward)' }
    : { name: 'student_compute_copy', bytes: mixed ? studentParams * e : 0, detail: mixed ? 'bfloat16 copy that runs forward and backward' : 'none (float32 compute)' };
  const moments: MemoryComponent = { name: 'optimizer_state', bytes: trained * 8, detail: `AdamW exp_avg + exp_avg_sq, float32${lora ? ', adapters only' : ''}` };
  const onStudentDevice = (c: MemoryComponent) => input.teacherElsewhere && c.name.startsWith('teacher') ? null : c;

  const layers = s.numHiddenLayers;
  // The fused attention kernel (libtorch 2.x on CUDA, with or without a padding mask) keeps no
  // [T × T] matrices; the eager path runs on CPU, on libtorch 1.13 and under attention dropout.
  const sdpa = input.kernels.attention === 'sdpa';
  const fused = sdpa && s.attentionDropout === 0;
  const { norm, rotary, swiglu } = input.kernels;
  const saved = norm === 'fused' && rotary === 'fused' && !fused ? savedPerTokenLayerFused(s, e, t, swiglu === 'fused') : savedPerTokenLayer(s, e, t, fused);
  const transient = transientPerTokenLayer(s, e, t, fused);
  const outside = tokens * (4 * e + 8) * s.hiddenSize; // embeddings (a leaf and its gradient), final norm
  // Each adapter keeps its input (float32: cast from a bf16 base) and A's output for the gradients of A and B.
  const adapterSaved = lora ? 4 * (lora.inputFeaturesPerLayer + 7 * lora.rank) : 0;
  const activations: MemoryComponent = shape.gradientCheckpointing
    ? {
        name: 'student_activations',
        bytes: tokens * (layers * e * s.hiddenSize + saved + adapterSaved + transient + 2 * e * s.hiddenSize) + outside,
        detail: `checkpointed: ${layers} layer inputs + one layer recomputed (${shape.microBatchSize} × ${t} tokens)`,
      }
    : {
        name: 'student_activations',
        bytes: tokens * (layers * (saved + adapterSaved) + transient) + outside,
        detail: `${layers} layers × ${Math.round(saved / 1024)} KB per token saved for backward (${shape.microBatchSize} × ${t} tokens)`,
      };
  // Training step: with several passes per optimizer step every gradient exists while later passes
  // run, and with checkpointing the gradients are complete when the last layer is recomputed. With
  // neither, the peak comes as backward starts, when only the LM head's gradient exists (the chunked
  // loss fills it first); each layer's gradient then appears as that layer's activations are freed.
  const accumulating = passesPerStep(input.batchSize, shape.microBatchSize, input.gradAccum) > 1;
  const allGradients = studentParams * e;
  const gradients: MemoryComponent = lora
    ? { name: 'gradients', bytes: lora.parameters * 4, detail: 'float32 gradients of the LoRA adapters' }
    : accumulating || shape.gradientCheckpointing
    ? { name: 'gradients', bytes: allGradients, detail: `${mixed ? 'bfloat16' : 'float32'} gradients${accumulating ? ', kept across micro-batches' : ''}` }
    : {
        name: 'gradients',
        bytes: Math.max(s.vocabSize * s.hiddenSize * e, allGradients - (activations.bytes * (layers - 1)) / layers),
        detail: 'as backward starts: the LM head\'s (the others appear as activations are freed)',
      };
  const rows = input.lossImpl === 'chunked' ? Math.min(input.lossChunkRows, tokens) : tokens;
  const lossRows = input.crossTokenizer && input.teacher
    ? crossLossChunkBytes(rows, s.vocabSize, input.teacher.vocabSize)
    : lossChunkBytes(rows, Math.max(s.vocabSize, input.teacher?.vocabSize ?? 0)) + ensembleChunkBytes(rows, s.vocabSize, input.ensembleMembers ?? 1);
  // The chunked loss also keeps every target row's hidden-state gradient and each teacher's hidden rows.
  const teacherHidden = localTeachers.reduce((n, c) => n + c.hiddenSize, 0);
  const rowState = input.lossImpl === 'chunked' ? tokens * (8 * s.hiddenSize + te * teacherHidden) : 0;
  const loss: MemoryComponent = {
    name: 'loss', bytes: lossRows + rowState,
    detail: input.lossImpl === 'chunked' ? `${rows}-row chunks over a ${s.vocabSize.toLocaleString('en-US')}-token vocabulary, target-row gradients` : `whole logits of ${tokens} rows`,
  };
  const tt = input.teacherSequenceLength ?? t;
  const teacherForward: MemoryComponent = input.teacher
    ? {
        name: 'teacher_forward', bytes: Math.max(...localTeachers.map((c) => noGradForward(c, te, shape.microBatchSize * tt, tt, sdpa))),
        detail: `no-grad forward of ${shape.microBatchSize} × ${tt} tokens${localTeachers.length > 1 ? ' (the largest teacher\'s; they run in turn)' : ''}`,
      }
    : { name: 'teacher_forward', bytes: 0, detail: 'no teacher loaded' };
  const fixedStep = [runtime, teacherWeights, master, computeCopy, gradients, moments].map(onStudentDevice).filter((c): c is MemoryComponent => c !== null);
  const studentSide = activations.bytes + loss.bytes;
  const teacherSide = input.teacherElsewhere ? 0 : teacherForward.bytes;
  const step = [...fixedStep, ...(studentSide >= teacherSide ? [activations, loss] : [teacherForward])];

  // Optimizer step: a mixed-precision student in one process steps from its bf16 gradients
  // (StudentPrecision.step); across ranks they are converted one by one into float32 on the masters.
  const onePass = mixed && !lora && !input.dataParallel;
  const optimizerGradients: MemoryComponent = onePass
    ? { name: 'gradients', bytes: trained * e, detail: 'bfloat16 gradients, read by the optimizer in one pass' }
    : { name: 'gradients', bytes: trained * 4, detail: 'float32 gradients in the optimizer step' };
  const optimizer = [runtime, teacherWeights, master, computeCopy, moments, optimizerGradients]
    .map(onStudentDevice).filter((c): c is MemoryComponent => c !== null);

  // Evaluation: no gradients; each model's no-grad forward in turn, then logits chunks.
  const evalTokens = input.evalBatchSize * input.evalSequenceLength;
  const studentEval = noGradForward(s, e, evalTokens, input.evalSequenceLength);
  const teacherEval = input.teacher && !input.teacherElsewhere ? Math.max(...localTeachers.map((c) => noGradForward(c, te, evalTokens, input.evalSequenceLength))) : 0;
  const evaluation = [runtime, teacherWeights, master, computeCopy, moments]
    .map(onStudentDevice).filter((c): c is MemoryComponent => c !== null)
    .concat([{
      name: 'evaluation', bytes: Math.max(studentEval, teacherEval) + lossChunkBytes(input.lossChunkRows, s.vocabSize),
      detail: `no-grad forward of ${input.evalBatchSize} × ${input.evalSequenceLength} held-out tokens`,
    }]);

  const total = (cs: MemoryComponent[]) => cs.reduce((n, c) => n + c.bytes, 0);
  const phases = [
    { phase: 'training step' as const, components: step },
    { phase: 'optimizer step' as const, components: optimizer },
    { phase: 'evaluation' as const, components: evaluation },
  ];
  const peak = phases.reduce((a, b) => (total(b.components) > total(a.components) ? b : a));
  const teacherDevice = input.teacherElsewhere && input.teacher
    ? (() => {
        const components = [teacherWeights, { ...teacherForward, bytes: Math.max(teacherForward.bytes, noGradForward(input.teacher!, te, evalTokens, input.evalSequenceLength)) }];
        return { components, peakBytes: total(components) };
      })()
    : null;
  return {
    components: peak.components, peakBytes: total(peak.components), phase: peak.phase, teacherDevice,
    phases: Object.fromEntries(phases.map((p) => [p.phase, p.components])) as Record<Phase, MemoryComponent[]>,
  };
}

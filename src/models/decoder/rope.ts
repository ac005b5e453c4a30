// Rotary position embeddings as Hugging Face computes them (modeling_rope_utils.py): inverse frequencies in
// float32, cos/sin of position × frequency duplicated over both halves, rotate-half application.
import { arange, aten, cat, fusedRotary, kernelsFor, noGrad, type Tensor, tidy, where } from '../../tensor/index.js';
import type { DecoderConfig, RopeScaling } from './config.js';

/**
 * Llama 3.1's scaling, as transformers' _compute_llama3_parameters computes it in float32:
 * wavelengths longer than original/low_freq_factor are divided by `factor`, shorter than
 * original/high_freq_factor kept, and those between interpolated smoothly.
 */
function llama3Frequencies(invFreq: Tensor, s: Extract<RopeScaling, { type: 'llama3' }>): Tensor {
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  // 2π / inv_freq, as torch computes a scalar over a tensor: reciprocal, then the product.
  const wavelen = invFreq.reciprocal().mul(2 * Math.PI);
  const scaled = where(wavelen.gt(lowFreqWavelen), invFreq.div(s.factor), invFreq);
  const smooth = wavelen.reciprocal().mul(s.originalMaxPositionEmbeddings).sub(s.lowFreqFactor).div(s.highFreqFactor - s.lowFreqFactor);
  const smoothed = smooth.neg().add(1).mul(scaled).div(s.factor).add(smooth.mul(scaled));
  const medium = wavelen.lt(highFreqWavelen).logicalNot().logicalAnd(wavelen.gt(lowFreqWavelen).logicalNot());
  return where(medium, smoothed, scaled);
}

/**
 * Dynamic NTK's base for a forward pass whose positions reach `sequenceLength` − 1, as transformers'
 * _compute_dynamic_ntk_parameters computes it (in float32: its sequence length is a tensor there):
 * θ · (factor · L / max_position_embeddings − (factor − 1))^(d / (d − 2)) with L at least
 * max_position_embeddings, so up to that length it is θ itself.
 */
function dynamicRopeBase(config: DecoderConfig, factor: number, sequenceLength: number): number {
  const f = Math.fround;
  const maxPositions = config.maxPositionEmbeddings;
  const length = Math.max(sequenceLength, maxPositions);
  const dim = config.headDim;
  const growth = f(f(f(f(factor * length) / maxPositions) - (factor - 1)) ** (dim / (dim - 2)));
  return f(config.ropeTheta * growth);
}

/**
 * inv_freq[i] = 1 / θ^(2i/d), adjusted for linear, dynamic, llama3 or YaRN scaling; plus the attention
 * scaling. `sequenceLength` (the largest position + 1) matters only to dynamic scaling.
 */
export function ropeFrequencies(config: DecoderConfig, device: string, sequenceLength = 0): { invFreq: Tensor; attentionScaling: number } {
  const dim = config.headDim;
  const base = config.ropeScaling.type === 'dynamic' ? dynamicRopeBase(config, config.ropeScaling.factor, sequenceLength) : config.ropeTheta;
  return tidy(() => {
    // base ** (arange(0, d, 2) / d) in float32, as transformers does.
    const exponents = arange(0, dim, 2, { device }).to('float32').div(dim);
    const posFreqs = aten('aten::pow.Scalar', base, exponents);
    const scaling = config.ropeScaling;
    if (scaling.type === 'default' || scaling.type === 'dynamic') return { invFreq: posFreqs.reciprocal(), attentionScaling: 1 };
    if (scaling.type === 'linear') return { invFreq: posFreqs.reciprocal().div(scaling.factor), attentionScaling: 1 };
    if (scaling.type === 'llama3') return { invFreq: llama3Frequencies(posFreqs.reciprocal(), scaling), attentionScaling: 1 };
    // YaRN: interpolate low frequencies, extrapolate high ones, with a linear ramp between.
    const { factor, betaFast, betaSlow, originalMaxPositionEmbeddings: maxPos, truncate } = scaling;
    const mscale = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
    const attentionScaling =
      scaling.attentionFactor ??
      (scaling.mscale && scaling.mscaleAllDim ? mscale(factor, scaling.mscale) / mscale(factor, scaling.mscaleAllDim) : mscale(factor));
    const correctionDim = (rotations: number) => (dim * Math.log(maxPos / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
    let low = correctionDim(betaFast);
    let high = correctionDim(betaSlow);
    if (truncate) {
      low = Math.floor(low);
      high = Math.ceil(high);
    }
    low = Math.max(low, 0);
    high = Math.min(high, dim - 1);
    if (low === high) high += 0.001;
    const ramp = arange(0, dim / 2, 1, { device }).to('float32').sub(low).div(high - low).clamp(0, 1);
    const extrapolationFactor = ramp.neg().add(1);
    const extrapolation = posFreqs.reciprocal();
    const interpolation = posFreqs.mul(factor).reciprocal();
    const invFreq = interpolation.mul(extrapolationFactor.neg().add(1)).add(extrapolation.mul(extrapolationFactor));
    return { invFreq, attentionScaling };
  });
}

/** cos and sin [B, T, head_dim] for integer positions [B, T], in `dtype`. */
export function ropeCosSin(invFreq: Tensor, attentionScaling: number, positions: Tensor, dtype: Tensor['dtype']): { cos: Tensor; sin: Tensor } {
  return noGrad(() =>
    tidy(() => {
      // freqs[b, t, i] = positions[b, t] · inv_freq[i], in float32 whatever the model dtype.
      const freqs = positions.to('float32').unsqueeze(-1).mul(invFreq);
      const emb = cat([freqs, freqs], -1);
      let cos = emb.cos();
      let sin = emb.sin();
      if (attentionScaling !== 1) {
        cos = cos.mul(attentionScaling);
        sin = sin.mul(attentionScaling);
      }
      return { cos: cos.to(dtype), sin: sin.to(dtype) };
    }),
  );
}

/** [x1, x2] → [−x2, x1] over the last dimension's halves. */
export function rotateHalf(x: Tensor): Tensor {
  const half = x.size(-1) / 2;
  return cat([x.slice(-1, half).neg(), x.slice(-1, 0, half)], -1);
}

/**
 * x·cos + rotate_half(x)·sin, with cos/sin [B, T, D] broadcast over heads of x [B, H, T, D]. Where
 * kernelsFor says so, one fused kernel (forward and backward), whose contiguous output the attention matmuls read
 * without a copy.
 */
export function applyRotary(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const dtype = x.dtype;
  if (kernelsFor(x.device, dtype).rotary === 'fused' && cos.dtype === dtype) return fusedRotary(x, cos, sin);
  return tidy(() => x.mul(cos.unsqueeze(1)).add(rotateHalf(x).mul(sin.unsqueeze(1))));
}


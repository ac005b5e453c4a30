#!/usr/bin/env python3
"""The baseline of `distillery bench kd --modes pytorch`: the same KD training step in PyTorch eager.

What a PyTorch + Hugging Face user runs: the causal LM's forward as transformers computes it in eager
mode (full [B, T, V] logits from both models), the loss written as TRL and the tutorials write it
(F.kl_div on log-softmaxes over the whole vocabulary, F.cross_entropy on the shifted labels),
loss.backward() and torch.optim.AdamW. The models are written out here because transformers is not
installed where this runs (only Debian's python3-torch, on the same libtorch build as Distillery):
config.json is read as the family's config class reads it (its defaults for absent fields), and the
arithmetic is modeling_qwen3.py's, modeling_qwen2.py's, modeling_llama.py's, modeling_mistral.py's or
modeling_gemma3.py's, op for op, by model_type (Gemma 3's: scaled embeddings, (1 + w) float32 norms
around attention and MLP, GeLU-tanh, query_pre_attn_scalar, local rope on sliding layers, the final
logits' softcap where set; attn_logit_softcapping is read but, as in transformers' Gemma3Attention, never applied).

Prints one JSON object. The loss of the first step is part of it, so the caller can check that both
sides computed the same thing on the same weights and tokens.
"""
import argparse
import base64
import json
import math
import os
import resource
import struct
import sys
import time

import torch
import torch.nn.functional as F

DTYPES = {'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16, 'F64': torch.float64}


def load_safetensors(folder, dtype):
    """Every tensor of every *.safetensors file in the folder, as `dtype`, read one tensor at a time (the format: u64
    header length, JSON header, data), as transformers' from_pretrained(torch_dtype=...) streams them: a bf16 teacher
    of 4B parameters never exists in float32, and no whole file is held in memory."""
    tensors = {}
    files = sorted(f for f in os.listdir(folder) if f.endswith('.safetensors'))
    if not files:
        sys.exit(f'{folder}: no *.safetensors files')
    for name in files:
        with open(os.path.join(folder, name), 'rb') as f:
            (length,) = struct.unpack('<Q', f.read(8))
            header = json.loads(f.read(length))
            base = 8 + length
            for key, info in sorted(header.items(), key=lambda item: item[1]['data_offsets'][0] if item[0] != '__metadata__' else -1):
                if key == '__metadata__':
                    continue
                start, end = info['data_offsets']
                stored = DTYPES.get(info['dtype'])
                if stored is None:
                    sys.exit(f'{name}: tensor {key} has dtype {info["dtype"]}; supported: {", ".join(DTYPES)}')
                if end == start:
                    tensors[key] = torch.zeros(info['shape'], dtype=dtype)
                    continue
                raw = bytearray(end - start)
                f.seek(base + start)
                f.readinto(raw)
                # .to() copies only when the dtype changes; otherwise the tensor keeps the buffer it was read into.
                tensors[key] = torch.frombuffer(raw, dtype=stored).reshape(info['shape']).to(dtype)
    return tensors


class RMSNorm(torch.nn.Module):
    def __init__(self, weight, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(weight)
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class GemmaRMSNorm(RMSNorm):
    """Gemma3RMSNorm: the norm in float32 times (1 + weight) in float32, then cast back (weights stored around 0)."""

    def forward(self, x):
        out = x.float()
        out = out * torch.rsqrt(out.pow(2).mean(-1, keepdim=True) + self.eps)
        out = out * (1.0 + self.weight.float())
        return out.type_as(x)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


# Each family's config class (transformers' configuration_*.py) by model_type: its defaults for the
# fields a config.json may leave out.
FAMILY_DEFAULTS = {
    'qwen3': {'rope_theta': 10000.0, 'tie_word_embeddings': False, 'attention_bias': False, 'use_sliding_window': False, 'sliding_window': 4096, 'max_window_layers': 28},
    'qwen2': {'rope_theta': 10000.0, 'tie_word_embeddings': False, 'use_sliding_window': False, 'sliding_window': 4096, 'max_window_layers': 28},
    'llama': {'rope_theta': 10000.0, 'tie_word_embeddings': False, 'attention_bias': False, 'mlp_bias': False, 'hidden_act': 'silu'},
    'mistral': {'rope_theta': 10000.0, 'tie_word_embeddings': False, 'sliding_window': 4096, 'hidden_act': 'silu'},
    # Gemma3TextConfig: the hub's gemma-3-4b and larger leave most text_config fields out.
    'gemma3_text': {
        'vocab_size': 262208, 'hidden_size': 2304, 'intermediate_size': 9216, 'num_hidden_layers': 26, 'num_attention_heads': 8,
        'num_key_value_heads': 4, 'head_dim': 256, 'hidden_activation': 'gelu_pytorch_tanh', 'max_position_embeddings': 131072,
        'rms_norm_eps': 1e-6, 'tie_word_embeddings': True, 'rope_theta': 1_000_000.0, 'attention_bias': False,
        'query_pre_attn_scalar': 256, 'sliding_window': 4096, 'final_logit_softcapping': None, 'attn_logit_softcapping': None,
        'rope_scaling': None, 'rope_local_base_freq': 10_000.0, 'sliding_window_pattern': 6},
}
# Multimodal folders whose language model is distilled (Gemma3ForConditionalGeneration): the text
# model's config and the fields it takes from the outer one; its weights' prefixes, as the causal LM's.
TEXT_CONFIGS = {'gemma3': ('text_config', 'gemma3_text')}
INHERITED_FIELDS = ('torch_dtype', 'dtype', 'bos_token_id', 'eos_token_id', 'pad_token_id')
TEXT_PART_PREFIXES = (('language_model.model.', 'model.'), ('language_model.lm_head.', 'lm_head.'), ('model.language_model.', 'model.'))
OTHER_TOWERS = ('vision_tower.', 'multi_modal_projector.', 'audio_tower.', 'model.vision_tower.', 'model.multi_modal_projector.', 'model.audio_tower.')


def read_config(folder):
    """config.json as the family's config class reads it: the class defaults under the file's fields."""
    with open(os.path.join(folder, 'config.json')) as f:
        c = json.load(f)
    if c.get('model_type') in TEXT_CONFIGS:
        field, text_type = TEXT_CONFIGS[c['model_type']]
        c = {**{k: c[k] for k in INHERITED_FIELDS if k in c}, **c[field], 'model_type': text_type}
    defaults = FAMILY_DEFAULTS.get(c.get('model_type'))
    if defaults is None:
        sys.exit(f'{folder}: model_type {c.get("model_type")!r}; the PyTorch baseline supports {", ".join(FAMILY_DEFAULTS)} (and gemma3\'s language model)')
    if c.get('use_bidirectional_attention'):
        sys.exit(f'{folder}: use_bidirectional_attention is set: not a causal LM')
    return {'rms_norm_eps': 1e-6, **defaults, **c}


def rope_parameters(folder, c):
    """Per attention type, the rotary base and scaling: transformers < 4.56's rope_theta and rope_scaling,
    or ≥ 4.56's rope_parameters (one set per layer type where they differ: Gemma 3); Gemma 3's sliding
    layers on rope_local_base_freq, unscaled."""
    params = c.get('rope_parameters') or c.get('rope_scaling') or {}
    per_type = params if 'full_attention' in params else {'full_attention': params}
    full = {'rope_theta': c['rope_theta'], **per_type['full_attention']}
    if c['model_type'] != 'gemma3_text':
        sliding = full
    else:
        sliding = {'rope_type': 'default', 'rope_theta': c['rope_local_base_freq'], **(per_type.get('sliding_attention') or {})}
    for p in (full, sliding):
        kind = p.get('rope_type', p.get('type', 'default'))
        if kind not in ('default', 'linear', 'llama3'):
            sys.exit(f'{folder}: rope_type {kind!r}; the PyTorch baseline supports default, linear and llama3 rotary embeddings')
    return full, sliding


def inv_frequencies(rope, head_dim, device):
    """modeling_rope_utils.py: the default frequencies, divided by `factor` (linear), or Llama 3.1's
    smooth interpolation between kept and divided ones (llama3); in float32."""
    inv_freq = 1.0 / (rope['rope_theta'] ** (torch.arange(0, head_dim, 2, dtype=torch.int64, device=device).float() / head_dim))
    kind = rope.get('rope_type', rope.get('type', 'default'))
    if kind == 'linear':
        return inv_freq / rope['factor']
    if kind == 'llama3':
        factor, low, high, old = rope['factor'], rope['low_freq_factor'], rope['high_freq_factor'], rope['original_max_position_embeddings']
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > old / low, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / high) * ~(wavelen > old / low)
        return torch.where(medium, smoothed, scaled)
    return inv_freq


def cos_sin(inv_freq, t, dtype):
    freqs = torch.arange(t, device=inv_freq.device).float()[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    # As transformers: cos/sin in float32, then in the hidden states' dtype.
    return emb.cos()[None, None].to(dtype), emb.sin()[None, None].to(dtype)


class CausalLM(torch.nn.Module):
    """Qwen3ForCausalLM, Qwen2ForCausalLM, LlamaForCausalLM, MistralForCausalLM or Gemma3ForCausalLM (also
    Gemma3ForConditionalGeneration's language model) by config.json's model_type, weights from a Hugging Face folder."""

    def __init__(self, folder, dtype=torch.float32):
        super().__init__()
        c = read_config(folder)
        self.family = family = c['model_type']
        self.gemma = family == 'gemma3_text'
        self.heads = c['num_attention_heads']
        self.kv_heads = c.get('num_key_value_heads') or self.heads
        self.head_dim = c.get('head_dim') or c['hidden_size'] // self.heads
        self.rope, self.sliding_rope = rope_parameters(folder, c)
        # Layer types and the window (Qwen's from max_window_layers on when use_sliding_window; Mistral's
        # every layer unless sliding_window is null; Gemma 3's all but every sliding_window_pattern-th).
        layers = c['num_hidden_layers']
        if family in ('qwen2', 'qwen3'):
            self.window = c['sliding_window'] if c['use_sliding_window'] else None
            default_types = ['sliding_attention' if self.window is not None and i >= c['max_window_layers'] else 'full_attention' for i in range(layers)]
        elif family == 'mistral':
            self.window = c['sliding_window']
            default_types = ['full_attention' if self.window is None else 'sliding_attention'] * layers
        elif self.gemma:
            self.window = c['sliding_window']
            default_types = ['sliding_attention' if (i + 1) % c['sliding_window_pattern'] else 'full_attention' for i in range(layers)]
        else:
            self.window = None
            default_types = ['full_attention'] * layers
        # Qwen's and Gemma's config classes take an explicit layer_types list; Llama's and Mistral's masks follow sliding_window alone.
        layer_types = default_types if family in ('llama', 'mistral') else c.get('layer_types') or default_types
        if self.window is None and 'sliding_attention' in layer_types:
            sys.exit(f'{folder}: layer_types has sliding_attention layers but no sliding window (use_sliding_window / sliding_window)')
        # Attention projections' biases: q, k, v and o.
        if family == 'qwen2':
            biases = (True, True, True, False)
        elif family == 'mistral':
            biases = (False,) * 4
        else:
            biases = (c['attention_bias'],) * 4
        mlp_bias = c.get('mlp_bias', False) if family == 'llama' else False
        activation = c['hidden_activation'] if self.gemma else c.get('hidden_act', 'silu')
        if activation not in ('silu', 'gelu_pytorch_tanh'):
            sys.exit(f'{folder}: activation {activation!r}; the PyTorch baseline supports silu and gelu_pytorch_tanh')
        self.act = F.silu if activation == 'silu' else (lambda x: F.gelu(x, approximate='tanh'))
        self.scaling = c['query_pre_attn_scalar'] ** -0.5 if self.gemma else None  # None: 1/√head_dim
        # Gemma3Attention never applies attn_logit_softcapping (4.57, 5.x): only the final logits are capped.
        self.final_softcap = c.get('final_logit_softcapping') if self.gemma else None
        eps = c['rms_norm_eps']
        Norm = GemmaRMSNorm if self.gemma else RMSNorm
        w = load_safetensors(folder, dtype)
        for key in list(w):  # a multimodal folder's language model under the causal LM's names; its other towers dropped
            if key.startswith(OTHER_TOWERS):
                del w[key]
                continue
            for prefix, own in TEXT_PART_PREFIXES:
                if key.startswith(prefix):
                    w[own + key[len(prefix):]] = w.pop(key)
        p = lambda name: torch.nn.Parameter(w[name])  # noqa: E731
        self.embed = p('model.embed_tokens.weight')
        # Gemma3TextScaledWordEmbedding: √hidden_size as a float32 scalar, in the weights' dtype when applied.
        self.embed_scale = torch.tensor(c['hidden_size'] ** 0.5) if self.gemma else None
        self.layers = torch.nn.ModuleList()
        projections = [('self_attn.q_proj', biases[0]), ('self_attn.k_proj', biases[1]), ('self_attn.v_proj', biases[2]), ('self_attn.o_proj', biases[3])]
        projections += [(name, mlp_bias) for name in ('mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj')]
        norms = ['input_layernorm', 'post_attention_layernorm'] + (['pre_feedforward_layernorm', 'post_feedforward_layernorm'] if self.gemma else [])
        for i in range(layers):
            layer = torch.nn.Module()
            pre = f'model.layers.{i}.'
            for name, bias in projections:
                if (pre + name + '.bias' in w) != bias:
                    sys.exit(f'{folder}: {pre}{name}.bias is {"missing" if bias else "present"} but config.json says {"a" if bias else "no"} bias')
                linear = torch.nn.Linear(1, 1, bias=bias)
                linear.weight = p(pre + name + '.weight')
                if bias:
                    linear.bias = p(pre + name + '.bias')
                layer.add_module(name.split('.')[1], linear)
            if family in ('qwen3', 'gemma3_text'):
                layer.q_norm = Norm(w[pre + 'self_attn.q_norm.weight'], eps)
                layer.k_norm = Norm(w[pre + 'self_attn.k_norm.weight'], eps)
            else:
                layer.q_norm = layer.k_norm = None
            for name in norms:
                layer.add_module(name, Norm(w[pre + name + '.weight'], eps))
            layer.sliding = layer_types[i] == 'sliding_attention'
            self.layers.append(layer)
        self.norm = Norm(w['model.norm.weight'], eps)
        self.lm_head = p('lm_head.weight') if 'lm_head.weight' in w and not c['tie_word_embeddings'] else self.embed
        self.vocab = self.embed.shape[0]

    def attention(self, layer, x, cos, sin, mask, sdpa=False):
        b, t, _ = x.shape
        q = layer.q_proj(x).view(b, t, -1, self.head_dim)
        k = layer.k_proj(x).view(b, t, -1, self.head_dim)
        v = layer.v_proj(x).view(b, t, -1, self.head_dim).transpose(1, 2)
        if self.gemma:  # modeling_gemma3: the heads' norms after the transpose (modeling_qwen3: before; the same values)
            q, k = layer.q_norm(q.transpose(1, 2)), layer.k_norm(k.transpose(1, 2))
        elif layer.q_norm is not None:
            q, k = layer.q_norm(q).transpose(1, 2), layer.k_norm(k).transpose(1, 2)
        else:
            q, k = q.transpose(1, 2), k.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        groups = self.heads // self.kv_heads
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
        if sdpa:  # transformers' default attention on GPUs: the fused kernel (flash / memory-efficient)
            scale = {} if self.scaling is None else {'scale': self.scaling}  # torch >= 2.1
            if layer.sliding:
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **scale)
            else:
                out = F.scaled_dot_product_attention(q, k, v, is_causal=True, **scale)
        else:
            if self.scaling is None:
                scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
            else:
                scores = torch.matmul(q, k.transpose(2, 3)) * self.scaling
            scores = scores + mask
            probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
            out = torch.matmul(probs, v)
        return layer.o_proj(out.transpose(1, 2).reshape(b, t, -1))

    def forward(self, ids, sdpa=False):
        b, t = ids.shape
        device = ids.device
        h = F.embedding(ids, self.embed)
        if self.embed_scale is not None:
            h = h * self.embed_scale.to(device, self.embed.dtype)
        cos, sin = cos_sin(inv_frequencies(self.rope, self.head_dim, device), t, h.dtype)
        rotary = {False: (cos, sin), True: (cos, sin)}
        if self.sliding_rope is not self.rope:
            rotary[True] = cos_sin(inv_frequencies(self.sliding_rope, self.head_dim, device), t, h.dtype)
        # Per attention type: the additive mask of the eager attention (0 where query i sees key j,
        # the dtype's minimum elsewhere), or the fused kernel's boolean mask for sliding layers.
        if sdpa:
            masks = {False: None, True: None if self.window is None else torch.ones(t, t, dtype=torch.bool, device=device).tril().triu(1 - self.window)}
        else:
            full = torch.full((t, t), torch.finfo(h.dtype).min, device=device).triu(1)[None, None]
            masks = {False: full, True: full}
            if self.window is not None:  # query i sees key j iff i − window < j ≤ i
                hidden = torch.ones(t, t, dtype=torch.bool, device=device).tril(-self.window)
                masks[True] = full.masked_fill(hidden, torch.finfo(h.dtype).min)
        for layer in self.layers:
            cos, sin = rotary[layer.sliding]
            attended = self.attention(layer, layer.input_layernorm(h), cos, sin, masks[layer.sliding], sdpa)
            if self.gemma:  # norms after the attention and around the MLP
                h = h + layer.post_attention_layernorm(attended)
                x = layer.pre_feedforward_layernorm(h)
                h = h + layer.post_feedforward_layernorm(layer.down_proj(self.act(layer.gate_proj(x)) * layer.up_proj(x)))
            else:
                h = h + attended
                x = layer.post_attention_layernorm(h)
                h = h + layer.down_proj(self.act(layer.gate_proj(x)) * layer.up_proj(x))
        logits = F.linear(self.norm(h), self.lm_head)
        if self.final_softcap is not None:
            logits = torch.tanh(logits / self.final_softcap) * self.final_softcap
        return logits


def kd_loss(student_logits, teacher_logits, labels, alpha, tau):
    """α·τ²·mean_t KL(softmax(z_T/τ) ‖ softmax(z_S/τ)) + (1−α)·mean_t CE, logits at t predicting t+1."""
    s = student_logits[:, :-1].float()
    t = teacher_logits[:, :-1].float()
    v = min(s.shape[-1], t.shape[-1])
    kd = F.kl_div(F.log_softmax(s[..., :v] / tau, -1), F.log_softmax(t[..., :v] / tau, -1), reduction='none', log_target=True).sum(-1) * tau ** 2
    ce = F.cross_entropy(s.reshape(-1, s.shape[-1]), labels[:, 1:].reshape(-1))
    return alpha * kd.mean() + (1 - alpha) * ce


def status_kb(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return None



class PhaseClock:
    """Laps between named points of a step, summed over steps (bench kd's phase_ms)."""

    def __init__(self):
        self.totals = {}
        self.last = time.perf_counter()

    def reset(self):
        self.totals = {}

    def start(self):
        self.last = time.perf_counter()

    def lap(self, name):
        now = time.perf_counter()
        self.totals[name] = self.totals.get(name, 0.0) + (now - self.last) * 1000
        self.last = now

    def per_step(self, steps):
        return {name: round(ms / steps, 1) for name, ms in self.totals.items()}

def main():
    a = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    a.add_argument('--teacher', required=True)
    a.add_argument('--student', help='required unless --dump-logits')
    a.add_argument('--batch-file', required=True, help='JSON lines with input_ids, one sequence per line')
    a.add_argument('--steps', type=int, default=3)
    a.add_argument('--warmup', type=int, default=2, help='untimed steps first')
    a.add_argument('--threads', type=int, default=0)
    a.add_argument('--alpha', type=float, default=0.5)
    a.add_argument('--temperature', type=float, default=2.0)
    a.add_argument('--measure-memory', action='store_true', help="one step's working memory instead of speed")
    a.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:N]'")
    a.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'],
                   help='bfloat16: the teacher in bf16, the student under autocast with float32 master weights')
    a.add_argument('--attention', default=None, choices=['eager', 'sdpa'], help='default: sdpa on CUDA (transformers\' default there), eager on CPU')
    a.add_argument('--dump-logits', metavar='FILE',
                   help="instead of training: the teacher's logits [T, V] for the batch file's first sequence, as JSON "
                        "{model_type, shape, dtype, data_base64}: the values' little-endian float32 bytes")
    args = a.parse_args()
    if args.student is None and args.dump_logits is None:
        a.error('--student is required')
    device = torch.device(args.device)
    sdpa = (args.attention or ('sdpa' if device.type == 'cuda' else 'eager')) == 'sdpa'
    bf16 = args.dtype == 'bfloat16'
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with open(args.batch_file) as f:
        ids = torch.tensor([json.loads(line)['input_ids'] for line in f if line.strip()], dtype=torch.int64).to(device)
    teacher = CausalLM(args.teacher, torch.bfloat16 if bf16 else torch.float32).to(device)
    teacher.requires_grad_(False)
    if args.dump_logits:
        with torch.no_grad():
            logits = teacher(ids[:1], sdpa)[0].float().cpu()
        # Bytes, not decimal numbers: exact, and 10M logits in a second rather than json.dumps's ten.
        raw = logits.numpy().astype('<f4').tobytes()
        with open(args.dump_logits, 'w') as f:
            json.dump({'model_type': teacher.family, 'shape': list(logits.shape), 'dtype': str(logits.dtype).replace('torch.', ''),
                       'data_base64': base64.b64encode(raw).decode('ascii')}, f)
        return
    student = CausalLM(args.student).to(device)
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-5)

    # Where the step's time goes, on CPU (as bench kd's phase_ms; here the LM heads run inside the
    # forwards, and one backward covers head and layers).
    clock = PhaseClock() if device.type == 'cpu' else None

    def lap(name):
        if clock:
            clock.lap(name)

    def step():
        if clock:
            clock.start()
        with torch.no_grad():
            teacher_logits = teacher(ids, sdpa)
        lap('teacher_forward_with_head')
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            student_logits = student(ids, sdpa)
        lap('student_forward_with_head')
        loss = kd_loss(student_logits, teacher_logits, ids, args.alpha, args.temperature)
        lap('loss')
        loss.backward()
        lap('student_backward')
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        lap('optimizer')
        return loss.item()

    # Warm-up: creates the gradients and optimizer state that persist between steps, and lets the
    # allocator's heap reach the size a step needs.
    first_loss = step()
    for _ in range(args.warmup - 1):
        step()
    if args.measure_memory:
        before = status_kb('VmRSS')
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        step()
        print(json.dumps({'step_working_mb': round((status_kb('VmHWM') - before) / 1024)}))
        return
    cuda = device.type == 'cuda'
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    if clock:
        clock.reset()  # the warm-up's laps do not count
    start = time.perf_counter()
    for _ in range(args.steps):
        step()  # loss.item() waits for the device
    seconds = time.perf_counter() - start
    b, t = ids.shape
    print(json.dumps({
        'mode': 'pytorch',
        'tokens_per_s': round(b * t * args.steps / seconds, 1),
        'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        'step_ms': round(seconds * 1000 / args.steps, 1),
        'phase_ms': clock.per_step(args.steps) if clock else None,
        'first_loss': first_loss,
        'batch_size': b,
        'seq_len': t,
        'vocab': student.vocab,
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'device': args.device,
        'dtype': args.dtype,
        'attention': 'sdpa' if sdpa else 'eager',
        'cuda_max_allocated_mb': round(torch.cuda.max_memory_allocated(device) / 2 ** 20) if cuda else None,
    }))


if __name__ == '__main__':
    main()

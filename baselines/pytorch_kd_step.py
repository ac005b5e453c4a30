#!/usr/bin/env python3
"""The baseline of `distillery bench kd --modes pytorch`: the same KD training step in PyTorch eager.

What a PyTorch + Hugging Face user runs: Qwen3ForCausalLM's forward as transformers' modeling_qwen3.py
computes it in eager mode (full [B, T, V] logits from both models), the loss written as TRL and the
tutorials write it (F.kl_div on log-softmaxes over the whole vocabulary, F.cross_entropy on the
shifted labels), loss.backward() and torch.optim.AdamW. The model is written out here because
transformers is not installed where this runs (only Debian's python3-torch, on the same libtorch
build as Distillery); the arithmetic is modeling_qwen3.py's, op for op.

Prints one JSON object. The loss of the first step is part of it, so the caller can check that both
sides computed the same thing on the same weights and tokens.
"""
import argparse
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


def load_safetensors(folder):
    """Every tensor of every *.safetensors file in the folder, as float32 (the format: u64 header length, JSON header, data)."""
    tensors = {}
    files = sorted(f for f in os.listdir(folder) if f.endswith('.safetensors'))
    if not files:
        sys.exit(f'{folder}: no *.safetensors files')
    for name in files:
        with open(os.path.join(folder, name), 'rb') as f:
            data = f.read()
        (length,) = struct.unpack('<Q', data[:8])
        header = json.loads(data[8:8 + length])
        base = 8 + length
        for key, info in header.items():
            if key == '__metadata__':
                continue
            start, end = info['data_offsets']
            dtype = DTYPES.get(info['dtype'])
            if dtype is None:
                sys.exit(f'{name}: tensor {key} has dtype {info["dtype"]}; supported: {", ".join(DTYPES)}')
            raw = bytearray(data[base + start:base + end])
            tensors[key] = torch.frombuffer(raw, dtype=dtype).reshape(info['shape']).float() if end > start else torch.zeros(info['shape'])
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


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Qwen3(torch.nn.Module):
    """Qwen3ForCausalLM (default rotary embeddings, full attention), weights from a Hugging Face folder."""

    def __init__(self, folder):
        super().__init__()
        with open(os.path.join(folder, 'config.json')) as f:
            c = json.load(f)
        rope = c.get('rope_scaling') or c.get('rope_parameters') or {}
        if rope.get('rope_type', rope.get('type', 'default')) != 'default':
            sys.exit(f'{folder}: the PyTorch baseline supports default rotary embeddings only')
        self.heads, self.kv_heads = c['num_attention_heads'], c['num_key_value_heads']
        self.head_dim = c.get('head_dim') or c['hidden_size'] // self.heads
        self.theta = rope.get('rope_theta', c.get('rope_theta', 10000.0))
        eps = c.get('rms_norm_eps', 1e-6)
        w = load_safetensors(folder)
        p = lambda name: torch.nn.Parameter(w[name])  # noqa: E731
        self.embed = p('model.embed_tokens.weight')
        self.layers = torch.nn.ModuleList()
        for i in range(c['num_hidden_layers']):
            layer = torch.nn.Module()
            pre = f'model.layers.{i}.'
            for name in ('self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'):
                linear = torch.nn.Linear(1, 1, bias=(pre + name + '.bias') in w)
                linear.weight = p(pre + name + '.weight')
                if linear.bias is not None:
                    linear.bias = p(pre + name + '.bias')
                layer.add_module(name.split('.')[1], linear)
            layer.q_norm = RMSNorm(w[pre + 'self_attn.q_norm.weight'], eps)
            layer.k_norm = RMSNorm(w[pre + 'self_attn.k_norm.weight'], eps)
            layer.input_layernorm = RMSNorm(w[pre + 'input_layernorm.weight'], eps)
            layer.post_attention_layernorm = RMSNorm(w[pre + 'post_attention_layernorm.weight'], eps)
            self.layers.append(layer)
        self.norm = RMSNorm(w['model.norm.weight'], eps)
        self.lm_head = p('lm_head.weight') if 'lm_head.weight' in w and not c.get('tie_word_embeddings', False) else self.embed
        self.vocab = self.embed.shape[0]

    def attention(self, layer, x, cos, sin, mask, sdpa=False):
        b, t, _ = x.shape
        q = layer.q_norm(layer.q_proj(x).view(b, t, -1, self.head_dim)).transpose(1, 2)
        k = layer.k_norm(layer.k_proj(x).view(b, t, -1, self.head_dim)).transpose(1, 2)
        v = layer.v_proj(x).view(b, t, -1, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        groups = self.heads // self.kv_heads
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
        if sdpa:  # transformers' default attention on GPUs: the fused kernel (flash / memory-efficient)
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim) + mask
            probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
            out = torch.matmul(probs, v)
        return layer.o_proj(out.transpose(1, 2).reshape(b, t, -1))

    def forward(self, ids, sdpa=False):
        b, t = ids.shape
        device = ids.device
        h = F.embedding(ids, self.embed)
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.int64, device=device).float() / self.head_dim))
        freqs = torch.arange(t, device=device).float()[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        # As transformers: cos/sin in float32, then in the hidden states' dtype.
        cos, sin = emb.cos()[None, None].to(h.dtype), emb.sin()[None, None].to(h.dtype)
        mask = None if sdpa else torch.full((t, t), torch.finfo(h.dtype).min, device=device).triu(1)[None, None]
        for layer in self.layers:
            h = h + self.attention(layer, layer.input_layernorm(h), cos, sin, mask, sdpa)
            x = layer.post_attention_layernorm(h)
            h = h + layer.down_proj(F.silu(layer.gate_proj(x)) * layer.up_proj(x))
        return F.linear(self.norm(h), self.lm_head)


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
    a.add_argument('--student', required=True)
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
    args = a.parse_args()
    device = torch.device(args.device)
    sdpa = (args.attention or ('sdpa' if device.type == 'cuda' else 'eager')) == 'sdpa'
    bf16 = args.dtype == 'bfloat16'
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with open(args.batch_file) as f:
        ids = torch.tensor([json.loads(line)['input_ids'] for line in f if line.strip()], dtype=torch.int64).to(device)
    teacher = Qwen3(args.teacher).to(device, dtype=torch.bfloat16 if bf16 else torch.float32)
    student = Qwen3(args.student).to(device)
    teacher.requires_grad_(False)
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

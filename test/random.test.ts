// Seeding makes runs reproducible, and matches PyTorch's published stream.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as T from '../src/tensor/index.js';
import { assertClose } from './helpers.js';

describe('random numbers', () => {
  test('manualSeed(0) then randn(3) gives the values torch.manual_seed(0); torch.randn(3) prints', () => {
    T.manualSeed(0);
    // PyTorch documentation / any Python session: tensor([ 1.5410, -0.2934, -2.1788])
    assertClose(T.randn([3]).toArray(), [1.541, -0.2934, -2.1788], 1e-4);
  });

  test('the same seed repeats every kind of draw; another seed does not', () => {
    const draw = (seed: number) => {
      T.manualSeed(seed);
      return [...T.randn([4]).toArray(), ...T.rand([4]).toArray(), ...T.randint(0, 1000, [4]).toArray()];
    };
    assert.deepEqual(draw(7), draw(7));
    assert.notDeepEqual(draw(7), draw(8));
  });

  test('rand is uniform in [0, 1) and randint in [low, high)', () => {
    T.manualSeed(3);
    const u = T.rand([10000]).toArray();
    assert.ok(u.every((x) => x >= 0 && x < 1));
    const mean = u.reduce((a, b) => a + b, 0) / u.length;
    assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
    const k = T.randint(-3, 4, [10000]).toArray();
    assert.deepEqual([...new Set(k)].sort((a, b) => a - b), [-3, -2, -1, 0, 1, 2, 3]);
  });

  test('a Generator is an independent stream; its state can be saved and restored', () => {
    const g = new T.Generator(42);
    const first = T.randn([5], { generator: g }).toArray();
    assert.deepEqual(T.randn([5], { generator: new T.Generator(42) }).toArray(), first);
    const state = g.getState();
    const next = T.randn([5], { generator: g }).toArray();
    g.setState(state);
    assert.deepEqual(T.randn([5], { generator: g }).toArray(), next);
    // The global generator is unaffected by g.
    T.manualSeed(0);
    T.randn([5], { generator: g });
    assertClose(T.randn([3]).toArray(), [1.541, -0.2934, -2.1788], 1e-4);
  });

  test('the global RNG state round-trips (what a checkpoint saves)', () => {
    T.manualSeed(11);
    const state = T.getRngState();
    const a = T.rand([6]).toArray();
    T.setRngState(state);
    assert.deepEqual(T.rand([6]).toArray(), a);
  });

  test('multinomial draws follow the given weights', () => {
    const g = new T.Generator(5);
    const picks = T.multinomial(T.tensor([[0, 1, 0, 0]]), 1, { generator: g }).toArray();
    assert.deepEqual(picks, [1]);
    assert.throws(() => T.manualSeed(-1), /non-negative integer/);
  });
});

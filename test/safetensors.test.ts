// safetensors: exact round trips for every dtype, sharded checkpoints, atomic writes, and a
// typed error naming the file (and tensor) for every kind of malformed file.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SafetensorsCheckpoint, SafetensorsError, SafetensorsFile, writeSafetensors, type SafetensorsErrorCode } from '../src/io/safetensors/index.js';
import * as T from '../src/tensor/index.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-safetensors-'));
let counter = 0;
const fresh = (name = 'x.safetensors') => join(dir, `${counter++}-${name}`);

/** A file from an explicit header (object or raw text) and data bytes, with an optional lying length. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(), options: { length?: bigint; headerBytes?: Uint8Array } = {}): string {
  const headerBytes = options.headerBytes ?? Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(options.length ?? BigInt(headerBytes.byteLength));
  const path = fresh();
  writeFileSync(path, Buffer.concat([prefix, headerBytes, data]));
  return path;
}

const f32 = (n: number, offset = 0) => ({ dtype: 'F32', shape: [n], data_offsets: [offset, offset + 4 * n] });

describe('safetensors round trip', () => {
  test('every dtype round-trips bytes and values exactly, with metadata and an aligned data section', () => {
    const path = fresh();
    const entries = T.DTYPES.map((dtype) => [`t_${dtype}`, T.tensor([[0, 1, 2], [3, 4, 5]], { dtype })] as [string, T.Tensor]);
    writeSafetensors(path, entries, { format: 'pt', note: 'round trip' });
    const bytes = readFileSync(path);
    assert.equal((8 + Number(bytes.readBigUInt64LE(0))) % 8, 0, 'data section is 8-byte aligned');
    const file = SafetensorsFile.open(path);
    assert.deepEqual(file.metadata, { format: 'pt', note: 'round trip' });
    assert.deepEqual(file.names().sort(), entries.map(([n]) => n).sort());
    for (const [name, original] of entries) {
      const info = file.info(name);
      assert.equal(info.dtype, original.dtype);
      assert.deepEqual(info.shape, [2, 3]);
      assert.deepEqual(file.readBytes(name), original.toBytes(), name);
      const loaded = file.tensor(name);
      assert.equal(loaded.dtype, original.dtype);
      assert.deepEqual(loaded.tolist(), original.tolist(), name);
    }
    // Conversion on load, as checkpoints stored in bf16 are loaded into float32 models.
    assert.equal(file.tensor('t_bfloat16', { dtype: 'float32' }).dtype, 'float32');
    assert.deepEqual(file.tensor('t_bfloat16', { dtype: 'float32' }).toArray(), [0, 1, 2, 3, 4, 5]);
    file.close();
  });

  test('the stored dtype names are the standard ones (readable by the reference implementation)', () => {
    const path = fresh();
    writeSafetensors(path, [['a', T.tensor([1], { dtype: 'bfloat16' })], ['b', T.tensor([1], { dtype: 'bool' })], ['c', T.tensor([1], { dtype: 'int64' })]]);
    const bytes = readFileSync(path);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString());
    assert.deepEqual([header.a.dtype, header.b.dtype, header.c.dtype], ['BF16', 'BOOL', 'I64']);
    assert.deepEqual(header.a.data_offsets, [0, 2]);
    assert.deepEqual(header.c.data_offsets, [3, 11]);
  });

  test('scalars and empty tensors', () => {
    const path = fresh();
    writeSafetensors(path, [['scalar', T.tensor(3.5)], ['empty', T.zeros([0, 4])]]);
    const file = SafetensorsFile.open(path);
    assert.deepEqual(file.tensor('scalar').shape, []);
    assert.equal(file.tensor('scalar').item(), 3.5);
    assert.deepEqual(file.tensor('empty').shape, [0, 4]);
    file.close();
  });

  test('tensors are read lazily, one at a time, from the file', () => {
    const path = fresh();
    writeSafetensors(path, [['a', T.tensor([1, 2])], ['b', T.tensor([3, 4])]]);
    const file = SafetensorsFile.open(path);
    // Rewrite b's bytes on disk after opening: a lazy reader sees the new values.
    const bytes = readFileSync(path);
    const info = file.info('b');
    Buffer.from(new Float32Array([7, 8]).buffer).copy(bytes, info.begin);
    writeFileSync(path, bytes);
    assert.deepEqual(file.tensor('b').toArray(), [7, 8]);
    file.close();
  });

  test('sharded checkpoints load through model.safetensors.index.json', () => {
    const folder = mkdtempSync(join(dir, 'sharded-'));
    writeSafetensors(join(folder, 'model-00001-of-00002.safetensors'), [['model.embed_tokens.weight', T.tensor([[1, 2]], { dtype: 'bfloat16' })]]);
    writeSafetensors(join(folder, 'model-00002-of-00002.safetensors'), [['lm_head.weight', T.tensor([[3, 4]], { dtype: 'bfloat16' })]]);
    writeFileSync(join(folder, 'model.safetensors.index.json'), JSON.stringify({
      metadata: { total_size: 8 },
      weight_map: { 'model.embed_tokens.weight': 'model-00001-of-00002.safetensors', 'lm_head.weight': 'model-00002-of-00002.safetensors' },
    }));
    const checkpoint = SafetensorsCheckpoint.open(folder);
    assert.deepEqual(checkpoint.names().sort(), ['lm_head.weight', 'model.embed_tokens.weight']);
    assert.deepEqual(checkpoint.tensor('lm_head.weight', { dtype: 'float32' }).tolist(), [[3, 4]]);
    assert.equal(checkpoint.info('model.embed_tokens.weight').storedAs, 'BF16');
    assert.throws(() => checkpoint.tensor('missing.weight'), (e: unknown) => e instanceof SafetensorsError && e.code === 'UNKNOWN_TENSOR' && /missing\.weight/.test(e.message));
    checkpoint.close();
  });

  test('writes are atomic: a failing write leaves the old file intact and no temporary files', () => {
    const folder = mkdtempSync(join(dir, 'atomic-'));
    const path = join(folder, 'model.safetensors');
    writeSafetensors(path, [['a', T.tensor([1, 2])]]);
    const before = readFileSync(path);
    const disposed = T.tensor([5]);
    disposed.dispose();
    assert.throws(() => writeSafetensors(path, [['a', T.tensor([9, 9])], ['b', disposed]]), /disposed/);
    assert.deepEqual(readFileSync(path), before);
    assert.deepEqual(readdirSync(folder), ['model.safetensors']);
    assert.throws(() => writeSafetensors(path, [['a', { dtype: 'float32', shape: [2], data: new Uint8Array(3) }]]), /needs 8/);
    assert.throws(() => writeSafetensors(path, [['a', T.tensor([1])], ['a', T.tensor([2])]]), /duplicate tensor name 'a'/);
  });
});

type Case = [string, () => string, SafetensorsErrorCode, RegExp?];
const validData = new Uint8Array(Float32Array.from([1, 2]).buffer);
const malformed: Case[] = [
  ['empty header', () => rawFile('', new Uint8Array(), { headerBytes: new Uint8Array(), length: 0n }), 'HEADER_NOT_JSON'],
  ['shorter than the length prefix', () => { const p = fresh(); writeFileSync(p, Buffer.alloc(5)); return p; }, 'TOO_SMALL'],
  ['zero-byte file', () => { const p = fresh(); writeFileSync(p, Buffer.alloc(0)); return p; }, 'TOO_SMALL'],
  ['header length over the limit', () => rawFile({}, new Uint8Array(), { length: 200_000_000n }), 'HEADER_TOO_LARGE'],
  ['header length 2^64-1', () => rawFile({}, new Uint8Array(), { length: 2n ** 64n - 1n }), 'HEADER_TOO_LARGE'],
  ['header length past end of file', () => rawFile({ a: f32(2) }, validData, { length: 10_000n }), 'HEADER_OUT_OF_BOUNDS'],
  ['header not JSON', () => rawFile('{"a": {dtype', validData), 'HEADER_NOT_JSON'],
  ['header truncated JSON', () => rawFile('{"a": {"dtype": "F32"', new Uint8Array()), 'HEADER_NOT_JSON'],
  ['header is an array', () => rawFile('[1, 2]'), 'HEADER_NOT_OBJECT'],
  ['header is a number', () => rawFile('42'), 'HEADER_NOT_OBJECT'],
  ['header is null', () => rawFile('null'), 'HEADER_NOT_OBJECT'],
  ['header not UTF-8', () => rawFile('', new Uint8Array(), { headerBytes: Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]) }), 'HEADER_NOT_UTF8'],
  ['metadata not an object', () => rawFile({ __metadata__: 'x' }), 'BAD_METADATA'],
  ['metadata value not a string', () => rawFile({ __metadata__: { format: 1 } }), 'BAD_METADATA'],
  ['entry is a string', () => rawFile({ a: 'F32' }), 'BAD_ENTRY', /tensor 'a'/],
  ['entry is null', () => rawFile({ a: null }), 'BAD_ENTRY', /tensor 'a'/],
  ['unknown dtype', () => rawFile({ a: { ...f32(2), dtype: 'F8_E4M3' } }, validData), 'BAD_DTYPE', /F8_E4M3/],
  ['lower-case dtype', () => rawFile({ a: { ...f32(2), dtype: 'f32' } }, validData), 'BAD_DTYPE'],
  ['missing dtype', () => rawFile({ a: { shape: [2], data_offsets: [0, 8] } }, validData), 'BAD_DTYPE'],
  ['shape not an array', () => rawFile({ a: { ...f32(2), shape: 2 } }, validData), 'BAD_SHAPE'],
  ['negative dimension', () => rawFile({ a: { ...f32(2), shape: [-2] } }, validData), 'BAD_SHAPE'],
  ['fractional dimension', () => rawFile({ a: { ...f32(2), shape: [1.5] } }, validData), 'BAD_SHAPE'],
  ['missing data_offsets', () => rawFile({ a: { dtype: 'F32', shape: [2] } }, validData), 'BAD_OFFSETS'],
  ['three offsets', () => rawFile({ a: { ...f32(2), data_offsets: [0, 4, 8] } }, validData), 'BAD_OFFSETS'],
  ['offsets reversed', () => rawFile({ a: { ...f32(2), data_offsets: [8, 0] } }, validData), 'BAD_OFFSETS'],
  ['negative offset', () => rawFile({ a: { ...f32(2), data_offsets: [-8, 0] } }, validData), 'BAD_OFFSETS'],
  ['offsets as strings', () => rawFile({ a: { ...f32(2), data_offsets: ['0', '8'] } }, validData), 'BAD_OFFSETS'],
  ['span smaller than shape needs', () => rawFile({ a: { ...f32(2), data_offsets: [0, 4] } }, validData), 'SIZE_MISMATCH', /needs 8 bytes/],
  ['span larger than shape needs', () => rawFile({ a: { ...f32(1), data_offsets: [0, 8] } }, validData), 'SIZE_MISMATCH'],
  ['shape overflows', () => rawFile({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, validData), 'SIZE_MISMATCH'],
  ['offsets past the data', () => rawFile({ a: f32(4) }, validData), 'OUT_OF_BOUNDS', /truncated/],
  ['file truncated by one byte', () => {
    const p = fresh();
    writeSafetensors(p, [['a', T.tensor([1, 2, 3])]]);
    truncateSync(p, readFileSync(p).byteLength - 1);
    return p;
  }, 'OUT_OF_BOUNDS'],
  ['overlapping tensors', () => rawFile({ a: f32(2, 0), b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, validData), 'OVERLAP'],
  ['gap between tensors', () => rawFile({ a: f32(1, 0), b: f32(1, 8) }, new Uint8Array(12)), 'GAP'],
  ['bytes after the last tensor', () => rawFile({ a: f32(1, 0) }, validData), 'TRAILING_DATA'],
  ['no such file', () => join(dir, 'does-not-exist.safetensors'), 'IO', /cannot open/],
];

describe('malformed safetensors files give typed errors naming the file', () => {
  test(`${malformed.length} malformed files`, () => {
    assert.ok(malformed.length >= 30);
    for (const [label, make, code, pattern] of malformed) {
      const path = make();
      assert.throws(
        () => SafetensorsFile.open(path),
        (error: unknown) => {
          assert.ok(error instanceof SafetensorsError, `${label}: not a SafetensorsError: ${String(error)}`);
          assert.equal(error.code, code, `${label}: code ${error.code} (${error.message})`);
          assert.ok(error.message.includes(path), `${label}: message names the file: ${error.message}`);
          if (pattern) assert.match(error.message, pattern, label);
          return true;
        },
        label,
      );
    }
  });

  test('bad shard indexes are reported with the index file', () => {
    const folder = mkdtempSync(join(dir, 'bad-index-'));
    const index = join(folder, 'model.safetensors.index.json');
    const cases: [unknown, RegExp][] = [
      ['{not json', /cannot read the shard index/],
      [{ metadata: {} }, /weight_map must be an object/],
      [{ weight_map: { a: 'missing.safetensors' } }, /shard missing.safetensors .* does not exist/],
      [{ weight_map: { a: '../escape.safetensors' } }, /shard file name in the same folder/],
    ];
    writeSafetensors(join(folder, 'one.safetensors'), [['b', T.tensor([1])]]);
    cases.push([{ weight_map: { a: 'one.safetensors' } }, /puts 'a' in .*one\.safetensors, which does not contain it/]);
    for (const [content, pattern] of cases) {
      writeFileSync(index, typeof content === 'string' ? content : JSON.stringify(content));
      assert.throws(() => SafetensorsCheckpoint.open(folder), (e: unknown) => e instanceof SafetensorsError && e.code === 'BAD_INDEX' && pattern.test(e.message) && e.message.includes(index));
    }
    const empty = mkdtempSync(join(dir, 'empty-'));
    assert.throws(() => SafetensorsCheckpoint.open(empty), /no model\.safetensors\.index\.json or model\.safetensors/);
  });
});

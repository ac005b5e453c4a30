// How every `distillery bench` command prints one measurement: a JSON object per line with --json,
// otherwise `key=value` pairs on one line, nested objects (per-phase times, ceilings per dtype)
// spelled out as `key=inner:value,inner:value` rather than JavaScript's "[object Object]".
export function formatBenchRecord(record: Record<string, unknown>, json = false): string {
  if (json) return JSON.stringify(record);
  return Object.entries(record).map(([key, value]) => `${key}=${formatValue(value)}`).join('  ');
}

function formatValue(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return value.map(formatValue).join(',');
  return Object.entries(value).map(([key, inner]) => `${key}:${formatValue(inner)}`).join(',');
}

// One key casing on each side: the JSON files a run writes (metrics.jsonl, summary.json) and the
// CLI's --json lines are snake_case, as pandas and Python scripts read them; the objects the
// TypeScript API returns or passes to callbacks are camelCase. The mapping is mechanical
// (`kd_loss` ↔ `kdLoss`, `top1_agreement` ↔ `top1Agreement`), so a key is found on either side.

/** `kd_loss` → `kdLoss`. */
export function camelKey(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `kdLoss` → `kd_loss`. */
export function snakeKey(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** A flat record with its keys camelCased (values as they are). */
export function camelCaseKeys(record: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [camelKey(k), v]));
}

/** A flat record with its keys snake_cased (values as they are). */
export function snakeCaseKeys(record: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [snakeKey(k), v]));
}

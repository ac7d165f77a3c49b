/**
 * Runs a full garbage collection when the runtime lets a test ask for one:
 * always under Bun, and under Deno with `--v8-flags=--expose-gc`. Returns
 * whether it could.
 */
export function collectGarbage(): boolean {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun !== undefined) {
    bun.gc(true);
    return true;
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  return gc !== undefined;
}

/**
 * How the page prints a figure.
 *
 * @module
 */

/** A figure to read at a glance: whole numbers as they are, others to 3 digits or so; "–" for none. */
export function formatNumber(value: number | null | undefined): string {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  if (Number.isInteger(value) || Math.abs(value) >= 100) return String(Math.round(value));
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

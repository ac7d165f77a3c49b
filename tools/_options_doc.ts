/**
 * Reads the options of `PoolOptions` from the text of `src/config.ts`: each
 * option's doc comment is where its meaning, unit and default are written
 * once, for `deno doc`, the README's table and the test that holds the
 * resolver to them.
 *
 * @module
 */

/** One option of `PoolOptions`, as its declaration and doc comment give it. */
export interface DocumentedOption {
  name: string;
  /** The declared type, as written. */
  type: string;
  /** False for an option declared without `?`. */
  optional: boolean;
  /** `"ms"` when the summary starts with "Milliseconds", else undefined. */
  unit: "ms" | undefined;
  /** The doc comment's first paragraph, on one line. */
  summary: string;
  /** The `{value}` of the `@default` tag, a TypeScript expression; undefined without the tag. */
  defaultValue: string | undefined;
  /** What follows the value in the `@default` tag, if anything. */
  defaultNote: string | undefined;
}

/** Each option of `export interface PoolOptions { ... }` in `source`, in declaration order. */
export function parsePoolOptions(source: string): DocumentedOption[] {
  const start = source.indexOf("export interface PoolOptions {");
  const end = source.indexOf("\n}", start);
  if (start < 0 || end < 0) throw new Error("Cannot read PoolOptions: its declaration is missing");
  const body = source.slice(start, end);
  const member = /\/\*\*([\s\S]*?)\*\/\s*(\w+)(\??):\s*([^;]+);/g;
  const options: DocumentedOption[] = [];
  for (const [, comment, name, question, type] of body.matchAll(member)) {
    options.push({ name, optional: question === "?", type: type.trim(), ...readComment(comment) });
  }
  return options;
}

function readComment(comment: string) {
  const lines = comment.split("\n").map((line) => line.replace(/^\s*\*? ?/, "").trimEnd());
  const tagAt = lines.findIndex((line) => line.startsWith("@"));
  const prose = (tagAt < 0 ? lines : lines.slice(0, tagAt)).join("\n").trim();
  const summary = prose.split(/\n\s*\n/)[0].replace(/\s+/g, " ");
  // A tag runs from a line starting with "@" to the next such line.
  const tags = tagAt < 0 ? [] : lines.slice(tagAt).join("\n").split(/\n(?=@)/);
  const tag = tags.map((text) => /^@default \{([^}]*)\}(.*)$/s.exec(text)).find(Boolean);
  const note = tag?.[2].replace(/\s+/g, " ").trim();
  return {
    summary,
    unit: summary.startsWith("Milliseconds") ? "ms" as const : undefined,
    defaultValue: tag?.[1].trim(),
    defaultNote: note === "" ? undefined : note,
  };
}

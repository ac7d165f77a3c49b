/// <reference lib="dom" />
/**
 * Making the page's elements.
 *
 * @module
 */

const SVG = "http://www.w3.org/2000/svg";

/** A `tag` element with `className` and `text`, each when given. */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** An SVG `tag` element with `attributes`. */
export function svgElement<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number>,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

/** `node`, colored by the CSS variable `variable` through `--c`, which the style sheet reads. */
export function colored<T extends HTMLElement | SVGElement>(node: T, variable: string): T {
  node.style.setProperty("--c", "var(" + variable + ")");
  return node;
}

/**
 * The live dashboard that `metricsHandler` serves at `/`: one self-contained
 * HTML page (inline CSS and script, no other resources) that polls
 * `metrics.json` next to its own URL and draws each pool's history as SVG.
 * The script and style sheet are written in `browser/`.
 *
 * @module
 */

// Embedded as a string generated ahead of time (tools/build_dashboard.ts, checked by CI), not by
// Function.prototype.toString, so the page is the same bytes whatever transpiles, bundles or
// instruments this package.
import { SCRIPT } from "./script.generated.ts";
import { STYLE } from "./style.generated.ts";

/** The placeholder in {@linkcode DASHBOARD_HTML} for the CSP nonce. */
const NONCE = "__NONCE__";

/**
 * The dashboard page with `nonce` on its one `<style>` and one `<script>`,
 * for a Content-Security-Policy that allows those two and nothing else
 * inline. `nonce` must be base64 (it is not escaped).
 *
 * @example
 * ```ts
 * const html = dashboardHtml("cmFuZG9t");
 * ```
 */
export function dashboardHtml(nonce: string): string {
  return DASHBOARD_HTML.replaceAll(NONCE, nonce);
}

const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="icon" href="data:,">
<title>Connection pools</title>
<style nonce="${NONCE}">
${STYLE}</style>
</head>
<body>
<header>
<h1>Connection pools</h1>
<span class="note"></span>
<span class="status" data-state="connecting" role="status">connecting…</span>
</header>
<main></main>
<script nonce="${NONCE}">
${SCRIPT}</script>
</body>
</html>
`;

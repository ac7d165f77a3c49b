/// <reference lib="dom" />
/**
 * The poll period, from the page's URL.
 *
 * @module
 */

import { HISTORY } from "./samples.ts";

const query = new URLSearchParams(location.search);
/** Milliseconds between polls: ?interval=, 100 to 60000, default 1000. */
export const INTERVAL = Math.min(Math.max(Number(query.get("interval")) || 1000, 100), 60000);
/** Milliseconds a chart spans. */
export const SPAN = HISTORY * INTERVAL;

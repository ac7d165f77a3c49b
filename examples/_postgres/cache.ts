/**
 * A folder filled once and kept under the temporary directory for later runs
 * (the PostgreSQL binaries copied for the server user, an unpacked browser).
 * The temporary directory is shared with other users, so a folder found
 * there is used only when this user made it and nobody else can change it.
 *
 * @module
 */

import { chmod, lstat, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import process from "node:process";

/** Written last into a filled folder: a folder without it was never finished. */
const COMPLETE = ".x-pool-complete";

/**
 * Returns `path`, filling it first with `fill(staging)` unless a finished
 * folder of this user's is there already. `fill` works in a private staging
 * folder that is renamed into place, so nobody sees half a folder; when
 * another process finishes first, its folder is used.
 */
export async function cachedFolder(
  path: string,
  fill: (staging: string) => Promise<void>,
): Promise<string> {
  if (await trusted(path)) return path;
  let staging: string | undefined;
  try {
    staging = await mkdtemp(`${path}.tmp-`);
    await fill(staging);
    await writeFile(`${staging}/${COMPLETE}`, "");
    await chmod(staging, 0o755);
    await rename(staging, path).catch(async (error) => {
      if (!(await trusted(path))) throw error;
    });
    return path;
  } finally {
    if (staging) await rm(staging, { recursive: true, force: true });
  }
}

/** True for a finished folder this user owns that nobody else may write. */
async function trusted(path: string): Promise<boolean> {
  try {
    const stat = await lstat(path);
    if (!stat.isDirectory() || stat.uid !== process.getuid?.() || (stat.mode & 0o022) !== 0) {
      return false;
    }
    return (await lstat(`${path}/${COMPLETE}`)).isFile();
  } catch {
    return false;
  }
}

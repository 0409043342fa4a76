/**
 * A serialized function's size as Lambda's deployment-package limit counts it: every file of the
 * CallbackFunction's archive deflated, with each zip entry's local header. Used by the archive
 * tests (the limit) and the benchmark (the report); reads the archive Pulumi built, no AWS call.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { deflateRawSync } from "node:zlib";

/** What an `AssetArchive` of serialized code holds once its outputs are resolved. */
export interface SerializedArchive {
  assets:
    | Record<string, { text?: Promise<string> | string; path?: Promise<string> | string }>
    | Promise<Record<string, { text?: Promise<string> | string; path?: Promise<string> | string }>>;
}

export async function archiveBytes(code: SerializedArchive, root: string): Promise<number> {
  const assets = await code.assets;
  let total = 0;
  const addFile = (file: string) => (total += deflateRawSync(readFileSync(file)).length + 30 + file.length);
  const walk = (target: string): void => {
    for (const entry of readdirSync(target, { withFileTypes: true })) {
      const full = path.join(target, entry.name);
      if (entry.isDirectory()) walk(full);
      else addFile(full);
    }
  };
  for (const [name, asset] of Object.entries(assets)) {
    if (name === "__index.js") total += deflateRawSync(Buffer.from(String(await asset.text))).length;
    else {
      const target = path.resolve(root, String(await asset.path));
      if (statSync(target).isDirectory()) walk(target);
      else addFile(target);
    }
  }
  return total;
}

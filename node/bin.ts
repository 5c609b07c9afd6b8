#!/usr/bin/env node
/**
 * The `careledger` executable (package.json `bin`): turns on Node's module compile cache, then
 * runs the command line (node/cli.ts). Node strips the types of every .ts file and compiles it on
 * each start; with the cache, a start reuses the compiled code of the last one, which takes most
 * of a command's start-up (measured by bench/cli-startup.ts).
 *
 * The cache must be on before the first module of the program is parsed, and static imports are
 * all parsed before any module runs, so this file imports nothing else statically and loads the
 * command line with a dynamic import once the cache is on.
 *
 * The cache lives in the user's own cache folder ($XDG_CACHE_HOME/careledger/compile-cache, else
 * ~/.cache/careledger/compile-cache), not the shared temp folder, so no other user can plant
 * compiled code there; NODE_COMPILE_CACHE (Node's own variable) overrides it, and
 * NODE_DISABLE_COMPILE_CACHE=1 turns it off. A cache that cannot be used is skipped silently.
 */
import { enableCompileCache } from 'node:module';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

function cacheFolder(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
  return join(base, 'careledger', 'compile-cache');
}

if (process.env.NODE_DISABLE_COMPILE_CACHE === undefined)
  enableCompileCache(process.env.NODE_COMPILE_CACHE ?? cacheFolder());
await import('./cli.ts');

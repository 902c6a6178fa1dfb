#!/usr/bin/env -S node --max-semi-space-size=16 --heap-growing-percent=50
// The `trawl` binary: runs the build in dist/ (made by `npm ci` / `npm run build`).
// V8 flags for a long-running monitor (the load run, test/bench/load.ts, passes the same):
// --max-semi-space-size=16 (MB): left to itself V8 grows a busy monitor's young generation to
//   ~200 MB; capped, a 50,000-shop watch peaks ~190 MB lower at no CPU cost (same 4-minute
//   run: 1,010 → 820 MiB, CPU 24–28 % → 22–24 %).
// --heap-growing-percent=50: after each full GC V8 lets the old generation grow to up to 4×
//   what survived before collecting again; a monitor promotes per-request garbage steadily,
//   so its heap swelled to ~800 MB of which 130 MB were live. 1.5× keeps it near what is live.
import { existsSync } from "node:fs"
import * as Module from "node:module"
import { fileURLToPath } from "node:url"

// V8's compiled code of trawl and its dependencies, kept on disk (os.tmpdir()/node-compile-cache,
// checked against each file's contents): `trawl --version` 0.89–0.95 s → 0.61–0.68 s on a 2-core
// machine, and every short command (add, status, export) saves as much. A cache that cannot be
// written is skipped by Node with no error.
Module.enableCompileCache?.()

const built = new URL("../dist/bin/trawl.js", import.meta.url)
if (!existsSync(fileURLToPath(built))) {
  process.stderr.write("trawl: not built yet: run `npm run build` (npm ci does it too)\n")
  process.exit(1)
}
await import(built.href)

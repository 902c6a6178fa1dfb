#!/usr/bin/env -S node --max-semi-space-size=16
// The `trawl` binary: runs the build in dist/ (made by `npm ci` / `npm run build`).
// --max-semi-space-size=16 (MB): left to itself V8 grows the young generation of a busy
// monitor to ~200 MB; capped, a 50,000-shop watch peaks ~190 MB lower in RSS at no CPU cost
// (test/bench/load.ts, same 4-minute run: 1,010 → 820 MiB, CPU 24–28 % → 22–24 %).
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const built = new URL("../dist/bin/trawl.js", import.meta.url)
if (!existsSync(fileURLToPath(built))) {
  process.stderr.write("trawl: not built yet: run `npm run build` (npm ci does it too)\n")
  process.exit(1)
}
await import(built.href)

#!/usr/bin/env node
// The `trawl` binary: runs the build in dist/ (made by `npm ci` / `npm run build`).
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const built = new URL("../dist/bin/trawl.js", import.meta.url)
if (!existsSync(fileURLToPath(built))) {
  process.stderr.write("trawl: not built yet: run `npm run build` (npm ci does it too)\n")
  process.exit(1)
}
await import(built.href)

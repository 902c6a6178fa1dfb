#!/usr/bin/env node
// Runs the built CLI when present (after `npm run build`), else the TypeScript
// sources directly (Node 24 strips types); either way on the project's Node 24
// when started through npm or npx.
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const built = new URL("../dist/bin/trawl.js", import.meta.url)
if (existsSync(fileURLToPath(built))) {
  await import(built.href)
} else {
  await import(new URL("../src/bin/trawl.ts", import.meta.url).href)
}

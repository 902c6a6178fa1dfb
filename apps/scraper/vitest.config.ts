import { defineConfig, mergeConfig } from "vitest/config"
import shared from "../../vitest.shared.ts"

// Two test files at a time: most of this package's time is spent waiting on the `trawl` binary's child processes
// and loopback servers, and vitest's default on 2 cores is one (cores - 1), which left a core idle for ~8 minutes
// of CI (fresh clone, 2026-12-03: the package's files 468 s in a row).
export default mergeConfig(shared, defineConfig({ test: { maxWorkers: 2 } }))

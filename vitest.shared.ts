import { defineConfig } from "vitest/config"

/**
 * Shared vitest settings: resolve workspace packages to their TypeScript
 * sources (the `@trawl/source` export condition), so tests never need a build.
 */
export default defineConfig({
  resolve: { conditions: ["@trawl/source", "module", "node", "import", "default"] },
  ssr: { resolve: { conditions: ["@trawl/source", "module", "node", "import", "default"], externalConditions: ["@trawl/source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    passWithNoTests: true,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    execArgv: ["--conditions=@trawl/source"]
  }
})

import { mergeConfig } from "vitest/config"
import shared from "../../vitest.shared.ts"

// --expose-gc: the export test measures retained heap after full collections.
export default mergeConfig(shared, {
  test: { execArgv: ["--expose-gc"] }
})

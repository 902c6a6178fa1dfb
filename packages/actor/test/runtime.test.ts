import { describe, expect, it } from "vitest"

describe("runtime", () => {
  it("runs on the project's own Node 24", () => {
    expect(process.versions.node.startsWith("24.")).toBe(true)
  })
})

/**
 * File-system helpers.
 *
 * @internal
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"

/**
 * Creates `dir` and its missing parents one level at a time. (Node's
 * `mkdir({ recursive: true })` spins forever under some pseudo file systems
 * such as /proc; a plain mkdir fails there with a clear error.)
 */
export const ensureDir = async (dir: string): Promise<void> => {
  const missing: Array<string> = []
  let current = path.resolve(dir)
  for (let depth = 0; depth < 256; depth++) {
    try {
      const stat = await fs.stat(current)
      if (!stat.isDirectory()) throw new Error(`${current} is not a directory`)
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error
      missing.push(current)
      const parent = path.dirname(current)
      if (parent === current) break
      current = parent
    }
  }
  for (const level of missing.reverse()) await fs.mkdir(level)
}

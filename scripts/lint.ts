/**
 * House-rule lint for one workspace package (run from the package directory
 * by its `lint` script). It checks what the compiler does not:
 *
 * - relative imports name the `.ts` file (tsc rewrites them to `.js`);
 * - no deprecated or Effect 3 APIs (`@effect/schema`, `Effect.fork(`,
 *   `Effect.catchAll`);
 * - library code logs through Effect's Logger, not `console.*` (bins,
 *   benchmarks and tests may print);
 * - dependencies are pinned to exact versions (effect's unstable modules
 *   change between minor releases).
 *
 * Prints one line per finding and exits 1 if there is any.
 */
import * as fs from "node:fs"
import * as path from "node:path"

const root = process.cwd()
const findings: Array<string> = []

const walk = (dir: string): Array<string> =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) return entry.name === "node_modules" || entry.name === "dist" || entry.name === "fixtures" ? [] : walk(full)
      return /\.tsx?$/.test(entry.name) ? [full] : []
    })
    : []

const rules: ReadonlyArray<{ readonly pattern: RegExp; readonly message: string; readonly libraryOnly?: boolean }> = [
  { pattern: /from\s+["'](\.{1,2}\/[^"']*?)(?<!\.ts)["']/, message: "relative import without the .ts extension" },
  { pattern: /["']@effect\/schema["']/, message: "@effect/schema is deprecated: use effect/Schema" },
  { pattern: /\bEffect\.fork\(/, message: "Effect.fork does not exist in Effect 4: use Effect.forkChild / forkScoped / forkIn" },
  { pattern: /\bEffect\.catchAll\b/, message: "Effect.catchAll is Effect 3: use Effect.catch" },
  { pattern: /\bconsole\.(log|error|warn|info|debug)\(/, message: "library code logs through Effect's Logger, not console", libraryOnly: true }
]

for (const file of [...walk(path.join(root, "src")), ...walk(path.join(root, "test")), ...walk(path.join(root, "bench"))]) {
  const relative = path.relative(root, file)
  const library = relative.startsWith("src" + path.sep) && !relative.includes(`${path.sep}bin${path.sep}`)
  const lines = fs.readFileSync(file, "utf8").split("\n")
  lines.forEach((line, index) => {
    if (/^\s*(\*|\/\/)/.test(line)) return
    for (const rule of rules) {
      if (rule.libraryOnly === true && !library) continue
      if (rule.pattern.test(line)) findings.push(`${relative}:${index + 1}: ${rule.message}`)
    }
  })
}

const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as Record<string, Record<string, string> | undefined>
for (const field of ["dependencies", "devDependencies", "optionalDependencies"]) {
  for (const [name, version] of Object.entries(manifest[field] ?? {})) {
    if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(version)) findings.push(`package.json: ${field}.${name} is '${version}': pin an exact version`)
  }
}

for (const finding of findings) console.log(finding)
if (findings.length > 0) {
  console.log(`${findings.length} finding(s)`)
  process.exit(1)
}

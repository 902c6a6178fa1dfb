/**
 * A short text summary of V8 .cpuprofile files (as `node --cpu-prof` writes
 * them, one per thread: `CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile`,
 * thread 0 is the main thread). Per file: the sampled time, the idle and GC
 * shares, the top entries by self time (function, url:line, self ms, %) and
 * self time by category of url (node:internal/…, undici, effect,
 * @trawl/<pkg>, natives as "(native)", and V8's "(program)",
 * "(garbage collector)", "(idle)").
 *
 *   node bench/profile-top.ts [--top 25] FILE.cpuprofile…
 *   (e.g. after BENCH_PROFILE=/tmp/prof npm run bench:small -w @trawl/scraper)
 */
import * as fs from "node:fs"
import * as path from "node:path"

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const vmEntries = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"])

/** Where a function's code comes from, for the aggregation. */
const category = (name: string, url: string): string => {
  if (url === "") return vmEntries.has(name) ? name : "(native)"
  if (url.startsWith("node:")) {
    if (url.includes("internal/deps/undici")) return "undici (node's own)"
    const internal = /^node:internal\/([^/]+)/.exec(url)
    return internal === null ? url : `node:internal/${internal[1]!.replace(/\.js$/, "")}`
  }
  const modules = url.lastIndexOf("/node_modules/")
  if (modules >= 0) {
    const [scope, name] = url.slice(modules + "/node_modules/".length).split("/")
    return scope!.startsWith("@") ? `${scope}/${name}` : scope!
  }
  const own = /\/(?:packages\/([^/]+)|apps\/(scraper)|(test))\//.exec(url)
  if (own !== null) return `@trawl/${own[1] ?? own[2] ?? "harness"}`
  return "(other)"
}

/** A url short enough to read: from node_modules/ or the repository's package folder on. */
const shortUrl = (url: string): string => {
  const plain = url.replace(/^file:\/\//, "")
  const modules = plain.lastIndexOf("/node_modules/")
  if (modules >= 0) return plain.slice(modules + 1)
  const own = /\/((?:packages|apps)\/.*)$/.exec(plain)
  return own?.[1] ?? plain
}

const summarize = (file: string, top: number) => {
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  // sample i lasts until sample i + 1 (V8 stores the delta before each sample)
  const self = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const micros = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1]! : 0
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + micros)
  }
  const totalMs = (profile.endTime - profile.startTime) / 1000
  const entries = new Map<string, { name: string; where: string; ms: number }>()
  const categories = new Map<string, number>()
  for (const [id, micros] of self) {
    const { functionName, lineNumber, url } = byId.get(id)!.callFrame
    const name = functionName === "" ? "(anonymous)" : functionName
    const where = url === "" ? "" : `${shortUrl(url)}:${lineNumber + 1}`
    const key = `${name} ${where}`
    const entry = entries.get(key) ?? { name, where, ms: 0 }
    entry.ms += micros / 1000
    entries.set(key, entry)
    const kind = category(functionName, url)
    categories.set(kind, (categories.get(kind) ?? 0) + micros / 1000)
  }
  const pct = (ms: number) => `${((ms / totalMs) * 100).toFixed(1)}%`
  const thread = /\.\d+\.(\d+)\.\d+\.cpuprofile$/.exec(file)?.[1]
  console.log(`\n== ${path.basename(file)}${thread === undefined ? "" : thread === "0" ? " (main thread)" : ` (worker thread ${thread})`}`)
  console.log(
    `sampled ${totalMs.toFixed(0)} ms · idle ${pct(categories.get("(idle)") ?? 0)} · GC ${pct(categories.get("(garbage collector)") ?? 0)} · ${profile.samples.length} samples`
  )
  console.log(`top ${top} by self time:`)
  for (const entry of [...entries.values()].sort((a, b) => b.ms - a.ms).slice(0, top)) {
    console.log(`  ${entry.ms.toFixed(1).padStart(9)} ms ${pct(entry.ms).padStart(6)}  ${entry.name}${entry.where === "" ? "" : `  ${entry.where}`}`)
  }
  console.log("by category:")
  const sorted = [...categories].sort((a, b) => b[1] - a[1])
  // the long tail (a few ms each) in one line
  const shown = sorted.filter(([, ms], i) => i < 12 || ms >= totalMs * 0.005)
  const rest = sorted.slice(shown.length)
  if (rest.length > 0) shown.push([`${rest.length} more`, rest.reduce((sum, [, ms]) => sum + ms, 0)])
  for (const [kind, ms] of shown) console.log(`  ${ms.toFixed(1).padStart(9)} ms ${pct(ms).padStart(6)}  ${kind}`)
}

const args = process.argv.slice(2)
const topAt = args.indexOf("--top")
const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25
if (args.length === 0) {
  console.error("usage: node bench/profile-top.ts [--top 25] FILE.cpuprofile…")
  process.exit(2)
}
for (const file of args) summarize(file, top)

import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const bin = fileURLToPath(new URL("../src/bin/trawl.ts", import.meta.url))

export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the real `trawl` binary (from source, on this Node) and collects its output. */
export const runTrawl = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly cwd?: string; readonly timeoutMillis?: number } = {}
): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=@trawl/source", bin, ...args], {
      cwd: options.cwd ?? process.cwd(),
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`trawl ${args.join(" ")} did not finish within ${options.timeoutMillis ?? 30_000} ms`))
    }, options.timeoutMillis ?? 30_000)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/**
 * Starts `trawl <command>` (a run with `--dashboard`, or `trawl dashboard`) and resolves the
 * dashboard's URL from its log, with the exit to await; `kill` and `stop` end it.
 */
export const startDashboard = (
  args: ReadonlyArray<string>,
  command = "run",
  options: { readonly env?: Record<string, string>; readonly cwd?: string } = {}
) => {
  const child = spawn(process.execPath, ["--conditions=@trawl/source", bin, command, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stderr = ""
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no dashboard address within 30 s:\n${stderr}`)), 30_000)
    child.stderr.on("data", (chunk) => {
      stderr += chunk
      const match = /dashboard on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr)
      if (match) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    })
  })
  return { url, exited, stderr: () => stderr, kill: () => child.kill("SIGKILL"), stop: () => child.kill("SIGTERM") }
}

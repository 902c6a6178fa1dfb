/**
 * Validation of target URLs: absolute http(s), a host name, no credentials,
 * bounded length. Returns the normalised URL and its host, or the reason.
 */
export const MAX_URL_LENGTH = 2048

export const validateUrl = (
  input: string
): { readonly url: string; readonly host: string } | { readonly reason: string } => {
  if (input.length === 0) return { reason: "empty" }
  if (input.length > MAX_URL_LENGTH) return { reason: `longer than ${MAX_URL_LENGTH} characters` }
  if (input.trim() !== input) return { reason: "leading or trailing whitespace" }
  if (/[\u0000-\u001f\u007f]/.test(input)) return { reason: "contains control characters" }
  let url: URL
  try {
    url = new URL(input)
  } catch {
    return { reason: "not an absolute URL" }
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { reason: `scheme ${url.protocol.slice(0, -1)} is not watched (only http and https)` }
  }
  if (url.hostname === "") return { reason: "no host" }
  if (url.username !== "" || url.password !== "") return { reason: "credentials in URLs are not stored" }
  url.hash = ""
  return { url: url.href, host: url.hostname }
}

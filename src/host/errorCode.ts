/** The `code` of a Node, transport or HTTP error (`ECONNREFUSED`, gRPC 14, HTTP 401), when it has one. */
export const errorCode = (error: unknown): string | number | undefined => {
  try {
    const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined
    return typeof code === "string" || typeof code === "number" ? code : undefined
  } catch {
    return undefined // a throwing getter
  }
}

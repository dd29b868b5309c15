/**
 * Does the endpoint speak the configured protocol? One short connection that opens the way the exporter would
 * (an HTTP/2 client preface for gRPC, an HTTP/1.1 request for OTLP/HTTP, over TLS for https://) and looks at the
 * first bytes of the answer. Never sends headers, never throws, bounded by a timeout, and keeps no process alive.
 *
 * Why it matters: Bun's node:http2 (under grpc-js) reads an HTTP/1.1 answer as HTTP/2 frames and throws from a
 * native callback, outside any promise, which ends opencode (seen with opencode 1.18's Bun 1.3). The gRPC exporter
 * therefore never hands a connection to node:http2 before the endpoint answered as HTTP/2 (protocols/grpc.ts).
 */
import { connect as tcpConnect, isIP, type Socket } from "node:net"
import { connect as tlsConnect } from "node:tls"
import type { Protocol } from "../config/catalog.ts"

/** What came back: an HTTP/2 frame, an HTTP/1.x status line, a TLS record, nothing, or something else. */
export type Answer = "http2" | "http1" | "tls" | "closed" | "other" | "unreachable" | "timeout"

export interface Spoken {
  readonly answer: Answer
  /** Over TLS: whether the handshake completed, and the protocol the server chose (ALPN). */
  readonly secured?: boolean
  readonly alpn?: string | false
}

export interface TlsFiles {
  readonly ca?: Buffer | undefined
  readonly key?: Buffer | undefined
  readonly cert?: Buffer | undefined
}

/** The client connection preface of RFC 9113 and an empty SETTINGS frame, as an HTTP/2 client opens. */
const HTTP2_OPENING = Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])])

const http1Opening = (authority: string) =>
  Buffer.from(`GET / HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: opencode-plugin-opentelemetry\r\nConnection: close\r\n\r\n`, "latin1")

/** Reads the first bytes of an answer; an HTTP/2 server's first frame is SETTINGS (or GOAWAY) on stream 0. */
export const classify = (bytes: Buffer, ended: boolean): Answer | undefined => {
  if (bytes.length >= 5 && bytes.subarray(0, 5).toString("latin1") === "HTTP/") return "http1"
  if (bytes.length >= 2 && (bytes[0] === 0x15 || bytes[0] === 0x16) && bytes[1] === 0x03) return "tls"
  if (bytes.length >= 9) {
    const type = bytes[3]
    const stream = bytes.readUInt32BE(5) & 0x7fffffff
    return (type === 0x04 || type === 0x07) && stream === 0 ? "http2" : "other"
  }
  if (ended) return bytes.length === 0 ? "closed" : "other"
  return undefined
}

export interface SpeakOptions {
  readonly host: string
  readonly port: number
  readonly opening: "http2" | "http1"
  readonly timeoutMs: number
  /** Speak over TLS; `alpn` is what is offered (the exporter's own choice by default). */
  readonly tls?: { readonly files?: TlsFiles | undefined; readonly alpn?: ReadonlyArray<string> } | undefined
}

/** One connection: open as a client of `opening` would and classify the answer. Always resolves. */
export const speak = (options: SpeakOptions): Promise<Spoken> =>
  new Promise<Spoken>((resolve) => {
    const { host, port, opening, timeoutMs } = options
    const authority = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`
    let socket: Socket | undefined
    let secured: boolean | undefined = options.tls === undefined ? undefined : false
    let alpn: string | false | undefined
    let received = Buffer.alloc(0)
    let done = false
    const finish = (answer: Answer) => {
      if (done) return
      done = true
      clearTimeout(timer)
      try {
        socket?.destroy()
      } catch {
        // Already gone.
      }
      resolve(secured === undefined ? { answer } : { answer, secured, alpn: alpn ?? false })
    }
    const timer = setTimeout(() => finish("timeout"), timeoutMs)
    timer.unref?.()
    try {
      const send = () => socket?.write(opening === "http2" ? HTTP2_OPENING : http1Opening(authority))
      if (options.tls === undefined) socket = tcpConnect({ host, port }, send)
      else {
        const files = options.tls.files ?? {}
        const tlsSocket = tlsConnect(
          {
            host,
            port,
            // Only the protocol is checked here; the exporter verifies the certificate itself.
            rejectUnauthorized: false,
            ...(isIP(host) === 0 ? { servername: host } : {}),
            ALPNProtocols: [...(options.tls.alpn ?? (opening === "http2" ? ["h2"] : ["http/1.1"]))],
            ...(files.ca === undefined ? {} : { ca: files.ca }),
            ...(files.key === undefined || files.cert === undefined ? {} : { key: files.key, cert: files.cert }),
          },
          () => {
            // A real handshake shows the server's certificate; Bun 1.3 also reports a "connection" to a plain-text
            // server, without one.
            secured = Object.keys(tlsSocket.getPeerCertificate() ?? {}).length > 0
            alpn = tlsSocket.alpnProtocol ?? false
            if (secured) send()
            else finish("other")
          },
        )
        socket = tlsSocket
      }
      socket.unref?.()
      socket.on("data", (chunk: Buffer) => {
        received = Buffer.concat([received, chunk])
        const answer = classify(received, false)
        if (answer !== undefined) finish(answer)
      })
      socket.on("end", () => finish(classify(received, true) ?? "closed"))
      socket.on("close", () => finish(classify(received, true) ?? "closed"))
      socket.on("error", (error: NodeJS.ErrnoException) => {
        if (received.length > 0) return finish(classify(received, true) ?? "other")
        const unreachable = ["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EADDRNOTAVAIL"]
        finish(unreachable.includes(String(error.code)) && secured !== true ? "unreachable" : "closed")
      })
    } catch {
      finish("unreachable")
    }
  })

/** What is wrong between the configured protocol and what the endpoint speaks. */
export type Mismatch =
  /** gRPC configured; the endpoint answers HTTP/1.x (an OTLP/HTTP port, any web server). */
  | "grpc-to-http1"
  /** OTLP/HTTP configured; the endpoint speaks HTTP/2 only (a gRPC port). */
  | "http-to-http2"
  /** https:// (or grpcs://) configured; the endpoint answers in plain text. */
  | "tls-to-plain"
  /** http:// (or grpc://) configured; the endpoint expects TLS. */
  | "plain-to-tls"

export interface Endpoint {
  readonly host: string
  readonly port: number
  readonly secure: boolean
}

/** Host, port and whether TLS is used, as the exporters read the URL (grpcs:// and https:// are TLS). */
export const endpointOf = (url: string): Endpoint | undefined => {
  try {
    const parsed = new URL(url)
    const secure = parsed.protocol === "https:" || parsed.protocol === "grpcs:"
    const port = parsed.port === "" ? (secure ? 443 : parsed.protocol === "http:" ? 80 : 4317) : Number(parsed.port)
    return { host: parsed.hostname.replace(/^\[|\]$/g, ""), port, secure }
  } catch {
    return undefined
  }
}

/**
 * Finds a protocol mismatch, or undefined when the endpoint speaks the protocol, is unreachable (the exporters'
 * retries handle that) or its answer says nothing for sure. At most four short connections, each bounded.
 */
export const diagnose = async (options: {
  readonly url: string
  readonly protocol: Protocol
  readonly tls?: TlsFiles | undefined
  readonly timeoutMs: number
}): Promise<Mismatch | undefined> => {
  const endpoint = endpointOf(options.url)
  if (endpoint === undefined) return undefined
  const opening = options.protocol === "grpc" ? "http2" : "http1"
  const { host, port, secure } = endpoint
  const plain = () => speak({ host, port, opening, timeoutMs: options.timeoutMs })
  const overTls = (alpn?: ReadonlyArray<string>) =>
    speak({ host, port, opening, timeoutMs: options.timeoutMs, tls: { files: options.tls, ...(alpn === undefined ? {} : { alpn }) } })
  const wrongVersion = (spoken: Spoken): Mismatch | undefined =>
    opening === "http2" && spoken.answer === "http1" ? "grpc-to-http1" : opening === "http1" && spoken.answer === "http2" ? "http-to-http2" : undefined

  if (!secure) {
    const spoken = await plain()
    if (spoken.answer === "http1" || spoken.answer === "http2") return wrongVersion(spoken)
    if (spoken.answer === "unreachable" || spoken.answer === "timeout") return undefined
    // A TLS server answers plain text with an alert, or by closing: confirm with a handshake (any ALPN will do).
    return (await overTls(["h2", "http/1.1"])).secured === true ? "plain-to-tls" : undefined
  }
  const secured = await overTls()
  if (secured.secured === true) {
    if (opening === "http2" && secured.answer !== "http2" && secured.alpn !== "h2") return "grpc-to-http1"
    return wrongVersion(secured)
  }
  if (secured.answer === "unreachable" || secured.answer === "timeout") return undefined
  // The handshake failed: a plain-text server answers the same opening without TLS.
  const spoken = await plain()
  if (spoken.answer === "http1" || spoken.answer === "http2") return "tls-to-plain"
  // A gRPC server that insists on ALPN h2 refuses an HTTP/1.1 client's handshake.
  if (opening === "http1") {
    const h2 = await speak({ host, port, opening: "http2", timeoutMs: options.timeoutMs, tls: { files: options.tls, alpn: ["h2"] } })
    if (h2.secured === true && h2.answer === "http2") return "http-to-http2"
  }
  return undefined
}

/** What each mismatch is, in a few words (the log line adds what to set). */
export const MISMATCH_SUMMARY: Record<Mismatch, string> = {
  "grpc-to-http1": "answers HTTP/1.1, not gRPC",
  "http-to-http2": "answers gRPC (HTTP/2 only), not OTLP/HTTP",
  "tls-to-plain": "answers plain HTTP, not TLS",
  "plain-to-tls": "expects TLS, not plain HTTP",
}

/** The gate a signal's exporter waits on before its first delivery. */
export interface Gate {
  /** Resolves once the check at start is done, or after its time limit, whichever comes first. */
  readonly ready: Promise<void>
  /** Set when the endpoint does not speak the configured protocol; final for this process. */
  readonly mismatch: Mismatch | undefined
  /** True when a connection to the endpoint is refused (nothing listens there): asked at shutdown, bounded. */
  readonly refusing?: (() => Promise<boolean>) | undefined
  /**
   * Resolves when the check at start has its answer, however long that took (it is bounded itself): a failure
   * seen before it (a loaded machine) waits for it, so that a mismatch is still named as one, not as the
   * transport's own error.
   */
  readonly diagnosed?: Promise<void> | undefined
}

/** How long the check at shutdown waits for a connection: a refusal answers at once, this bounds the rest. */
const REFUSAL_CHECK_MS = 250

/** A confirmed HTTP/2 answer lets gRPC connect without another check for this long. */
const VERIFIED_FOR_MS = 30_000

/**
 * One endpoint and protocol, shared by the signals sent there: checked once at start, in the background, and
 * (gRPC) before every connection after that. A mismatch is reported once, through `onMismatch`.
 */
export class EndpointCheck implements Gate {
  readonly ready: Promise<void>
  readonly diagnosed: Promise<void>
  private found: Mismatch | undefined
  private verifiedUntil = 0

  constructor(
    private readonly target: { readonly url: string; readonly protocol: Protocol; readonly tls?: TlsFiles | undefined },
    private readonly timeoutMs: number,
    private readonly onMismatch: (mismatch: Mismatch) => void,
  ) {
    const diagnosis = diagnose({ ...target, timeoutMs }).then(
      (mismatch) => (mismatch === undefined ? undefined : this.report(mismatch)),
      () => undefined,
    )
    this.diagnosed = diagnosis
    this.ready = Promise.race([diagnosis, delay(timeoutMs)])
  }

  get mismatch(): Mismatch | undefined {
    return this.found
  }

  private report(mismatch: Mismatch) {
    if (this.found !== undefined) return
    this.found = mismatch
    this.onMismatch(mismatch)
  }

  readonly refusing = async (): Promise<boolean> => {
    const endpoint = endpointOf(this.target.url)
    if (endpoint === undefined) return false
    const spoken = await speak({ host: endpoint.host, port: endpoint.port, opening: "http1", timeoutMs: REFUSAL_CHECK_MS })
    return spoken.answer === "unreachable"
  }

  /**
   * Before a gRPC connection: go ahead (undefined) when the endpoint answers as HTTP/2, or answers nothing at all
   * (the transport's own errors then say what happened); otherwise refuse, so that no other answer ever reaches
   * node:http2.
   */
  readonly beforeConnect = async (): Promise<Error | undefined> => {
    if (this.found !== undefined) return new Error(`OTLP endpoint ${MISMATCH_SUMMARY[this.found]}`)
    if (Date.now() < this.verifiedUntil) return undefined
    const endpoint = endpointOf(this.target.url)
    if (endpoint === undefined) return undefined
    const spoken = await speak({
      host: endpoint.host,
      port: endpoint.port,
      opening: "http2",
      timeoutMs: this.timeoutMs,
      tls: endpoint.secure ? { files: this.target.tls } : undefined,
    })
    if (spoken.answer === "http2") {
      this.verifiedUntil = Date.now() + VERIFIED_FOR_MS
      return undefined
    }
    if (spoken.answer === "timeout" || spoken.answer === "unreachable" || spoken.answer === "closed") return undefined
    const mismatch = await diagnose({ ...this.target, timeoutMs: this.timeoutMs }).catch(() => undefined)
    if (mismatch !== undefined) this.report(mismatch)
    return new Error(`OTLP endpoint ${mismatch === undefined ? "does not answer as a gRPC (HTTP/2) server" : MISMATCH_SUMMARY[mismatch]}`)
  }
}

/** Resolves after `ms`, keeping no process alive. */
export const delay = (ms: number) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    // Never keep opencode's process alive for our sake.
    timer.unref?.()
  })

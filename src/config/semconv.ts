/**
 * Which version of the GenAI semantic conventions to emit. The conventions' own transition plan: instrumentations
 * keep what they emitted by default, and OTEL_SEMCONV_STABILITY_OPT_IN (a comma list shared by every
 * instrumentation) holding `gen_ai_latest_experimental` switches to the latest experimental version instead.
 */
import { parseList } from "./keyValue.ts"
import type { Input } from "./values.ts"

export interface Semconv {
  /** The latest experimental GenAI conventions instead of the default ones (v1.41 and before). */
  readonly genAiLatest: boolean
}

const GEN_AI_LATEST = "gen_ai_latest_experimental"

/** Entries of other categories (http, database, …) belong to other instrumentations: ignored, never reported. */
export const decodeSemconv = (input: Input): Semconv => ({
  genAiLatest: parseList(input.raw.OPENCODE_SEMCONV_STABILITY_OPT_IN).some((entry) => entry.toLowerCase() === GEN_AI_LATEST),
})

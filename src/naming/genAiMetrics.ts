/**
 * The GenAI semantic conventions' client metrics (https://github.com/open-telemetry/semantic-conventions-genai),
 * the part of the signal catalog (src/signals.ts) whose names the conventions fix: no OPENCODE_METRIC_PREFIX, the
 * same in every profile. `semconv` says which set a metric belongs to: `default`, the conventions as published in
 * semantic-conventions up to v1.41 (what backends read today); `latest`, the newer ones, emitted instead when
 * OTEL_SEMCONV_STABILITY_OPT_IN holds gen_ai_latest_experimental. One LLM call is one assistant message. Low
 * cardinality by design: no session.id, whatever OPENCODE_METRICS_INCLUDE_SESSION_ID says.
 */

export interface GenAiMetricSpec {
  readonly semconv: "default" | "latest"
  readonly kind: "counter" | "histogram"
  readonly description: string
  readonly unit: string
  readonly attributes: ReadonlyArray<string>
  readonly when: string
  readonly buckets?: ReadonlyArray<number>
}

/** The conventions' boundaries: tokens in powers of 4, seconds doubling from 10 ms. */
const GENAI_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864]
const GENAI_SECONDS_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
const GENAI_CALL = ["gen_ai.operation.name (chat)", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model"] as const
const GENAI_ERROR = "error.type (a failed call: opencode's error name, e.g. APIError)"
const GENAI_MODALITY = "gen_ai.token.modality (unknown: opencode does not split tokens by modality)"
const ONCE_PER_CALL = "once per assistant message (LLM call), when first seen finished, successful or not"
/** The latest conventions' per-call token counters differ only in what they count. */
const usageCounter = (description: string, when: string) =>
  ({ semconv: "latest", kind: "counter", description, unit: "{token}", attributes: [...GENAI_CALL, GENAI_MODALITY], when }) as const

export const GENAI_METRICS = {
  "gen_ai.client.token.usage": {
    semconv: "default",
    kind: "histogram",
    description: "Number of input and output tokens used.",
    unit: "{token}",
    attributes: [...GENAI_CALL, "gen_ai.token.type (input: cached included; output: reasoning included)"],
    when: `${ONCE_PER_CALL}: one input and one output point`,
    buckets: GENAI_TOKEN_BUCKETS,
  },
  "gen_ai.client.operation.duration": {
    semconv: "default",
    kind: "histogram",
    description: "GenAI operation duration.",
    unit: "s",
    attributes: [...GENAI_CALL, GENAI_ERROR],
    when: `${ONCE_PER_CALL}: from the message's creation to its completion (the chat span's duration)`,
    buckets: GENAI_SECONDS_BUCKETS,
  },
  "gen_ai.client.inference.duration": {
    semconv: "latest",
    kind: "histogram",
    description: "GenAI client inference operation duration.",
    unit: "s",
    attributes: [...GENAI_CALL, GENAI_ERROR],
    when: `${ONCE_PER_CALL} (replaces gen_ai.client.operation.duration for inference)`,
    buckets: GENAI_SECONDS_BUCKETS,
  },
  "gen_ai.client.inference.operation.input_tokens": {
    semconv: "latest",
    kind: "histogram",
    description: "The number of input (prompt) tokens used per inference operation.",
    unit: "{token}",
    attributes: [...GENAI_CALL, GENAI_ERROR],
    when: `${ONCE_PER_CALL}; cached input included`,
    buckets: GENAI_TOKEN_BUCKETS,
  },
  "gen_ai.client.inference.operation.output_tokens": {
    semconv: "latest",
    kind: "histogram",
    description: "The number of output (completion) tokens used per inference operation.",
    unit: "{token}",
    attributes: [...GENAI_CALL, GENAI_ERROR],
    when: `${ONCE_PER_CALL}; reasoning included`,
    buckets: GENAI_TOKEN_BUCKETS,
  },
  "gen_ai.client.inference.usage.input_tokens": usageCounter("The number of input (prompt) tokens used, including cached tokens.", ONCE_PER_CALL),
  "gen_ai.client.inference.usage.output_tokens": usageCounter("The number of output (completion) tokens used, including reasoning tokens.", ONCE_PER_CALL),
  "gen_ai.client.inference.usage.cache_read.input_tokens": usageCounter("The number of input tokens served from a provider-managed cache.", `${ONCE_PER_CALL}; part of input_tokens`),
  "gen_ai.client.inference.usage.cache_write.input_tokens": usageCounter("The number of input tokens written to a provider-managed cache.", `${ONCE_PER_CALL}; part of input_tokens`),
  "gen_ai.client.inference.usage.reasoning.output_tokens": usageCounter("The number of output tokens used for reasoning (e.g. chain-of-thought, extended thinking).", `${ONCE_PER_CALL}; part of output_tokens`),
} as const satisfies Record<string, GenAiMetricSpec>

export type GenAiMetricName = keyof typeof GENAI_METRICS
export const GENAI_METRIC_NAMES = Object.keys(GENAI_METRICS) as ReadonlyArray<GenAiMetricName>
/** The GenAI metrics of one kind. */
export type GenAiMetricNameOfKind<K extends GenAiMetricSpec["kind"]> = {
  [N in GenAiMetricName]: (typeof GENAI_METRICS)[N]["kind"] extends K ? N : never
}[GenAiMetricName]

/** The README's GenAI table (part of the signal reference). */
export const renderGenAiReference = (): Array<string> => {
  const lines = [
    "### GenAI metrics (fixed names, every profile; the `latest` set instead of `default` with `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`)",
    "",
    "| name | set | type | unit | attributes | emitted |",
    "| --- | --- | --- | --- | --- | --- |",
  ]
  for (const [name, spec] of Object.entries(GENAI_METRICS) as Array<[GenAiMetricName, GenAiMetricSpec]>)
    lines.push(`| \`${name}\` | ${spec.semconv} | ${spec.kind} | \`${spec.unit}\` | ${spec.attributes.map((a) => `\`${a}\``).join(", ")} | ${spec.when} |`)
  return lines
}

/** The metric exporter the push readers export to: cumulative state and empty batches handled before delivery. */
import { ExportResultCode } from "@opentelemetry/core"
import {
  AggregationTemporality,
  AggregationType,
  type InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics"
import type { Temporality } from "../config/catalog.ts"
import { CumulativeState } from "./cumulative.ts"

/**
 * Between the SDK and an exporter: the SDK collects in delta, so it forgets each series once collected; with
 * cumulative temporality configured, {@link CumulativeState} turns that into cumulative points for the series
 * that changed. Either way an export with no data is not sent.
 */
export class MetricDelivery implements PushMetricExporter {
  private readonly cumulative: CumulativeState | undefined
  constructor(
    private readonly inner: PushMetricExporter,
    temporality: Temporality,
  ) {
    this.cumulative = temporality === "cumulative" ? new CumulativeState() : undefined
  }
  export(metrics: ResourceMetrics, resultCallback: Parameters<PushMetricExporter["export"]>[1]) {
    const out = this.cumulative === undefined ? withoutEmpty(metrics) : this.cumulative.add(metrics)
    if (out.scopeMetrics.length === 0) return resultCallback({ code: ExportResultCode.SUCCESS })
    this.inner.export(out, resultCallback)
  }
  forceFlush() {
    return this.inner.forceFlush()
  }
  shutdown() {
    return this.inner.shutdown()
  }
  selectAggregationTemporality = (_type: InstrumentType) => AggregationTemporality.DELTA
  selectAggregation = (type: InstrumentType) => this.inner.selectAggregation?.(type) ?? { type: AggregationType.DEFAULT }
}

const withoutEmpty = (metrics: ResourceMetrics): ResourceMetrics => ({
  resource: metrics.resource,
  scopeMetrics: metrics.scopeMetrics
    .map((scope) => ({ scope: scope.scope, metrics: scope.metrics.filter((m) => m.dataPoints.length > 0) }))
    .filter((scope) => scope.metrics.length > 0),
})


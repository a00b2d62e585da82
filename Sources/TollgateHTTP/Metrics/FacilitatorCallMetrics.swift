import Prometheus
import TollgateX402

/// Times the pool's calls to each facilitator and counts the failed ones.
public struct FacilitatorCallMetrics: FacilitatorMetricsSink {
    /// From 5 ms (a local facilitator) to 10 s (past any configured timeout).
    static let buckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    let series: MetricSeries
    /// Labels are host:port of configured facilitators; the cap only guards against a misbehaving caller.
    let facilitators = LabelLimiter(capacity: 32)

    public init(registry: PrometheusCollectorRegistry) {
        self.series = MetricSeries(registry: registry)
    }

    public func facilitatorCall(facilitator: String, operation: FacilitatorOperation, duration: Duration, failed: Bool) {
        let labels = [("facilitator", facilitators.value(facilitator)), ("operation", operation.rawValue)]
        series.histogram(.facilitatorDuration, labels, buckets: Self.buckets).record(duration)
        if failed { series.increment(.facilitatorErrors, labels) }
    }
}

import CoreMetrics
import TollgateX402

/// Times the pool's calls to each facilitator and counts the failed ones.
public struct FacilitatorCallMetrics: FacilitatorMetricsSink {
    let series: MetricSeries
    /// Labels are host:port of configured facilitators; the cap only guards against a misbehaving caller.
    let facilitators = LabelLimiter(capacity: 32)

    /// - Parameter factory: the swift-metrics backend the timings and failures are recorded into.
    public init(factory: any MetricsFactory) {
        self.series = MetricSeries(factory: factory)
    }

    public func facilitatorCall(facilitator: String, operation: FacilitatorOperation, duration: Duration, failed: Bool) {
        let labels = [("facilitator", facilitators.value(facilitator)), ("operation", operation.rawValue)]
        series.timer(.facilitatorDuration, labels).recordNanoseconds(Self.nanoseconds(duration))
        if failed { series.increment(.facilitatorErrors, labels) }
    }

    /// `duration` in whole nanoseconds, clamped to what a timer takes.
    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (whole, tooLong) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, stillTooLong) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return tooLong || stillTooLong ? (seconds < 0 ? .min : .max) : total
    }
}

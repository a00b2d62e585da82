import CoreMetrics
import TollgateCore

extension GatewayMetrics: RequestTimings {
    public func paidRequestAnswered(resource: String, overhead: Duration) {
        series.timer(.paidRequestOverhead, [("resource", labels.resources.value(resource))])
            .recordNanoseconds(FacilitatorCallMetrics.nanoseconds(overhead))
    }
}

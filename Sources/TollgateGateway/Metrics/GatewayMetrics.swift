import CoreMetrics
import Synchronization
import TollgateCore
import TollgateX402

/// The gateway's metrics, recorded through swift-metrics (`Counter`, `FloatingPointCounter`, `Timer`, `Meter`)
/// into the factory it is given. The payment funnel is derived from the audit events the store commits (it
/// observes an `ObservedStore`), so a metric never counts what the audit log does not hold; HTTP statuses come
/// from the door, facilitator timings from the pool, and the gauges are read by `refreshGauges()` (the
/// Prometheus exposition of TollgateAdmin calls it on every scrape). Nothing here touches the global
/// `MetricsSystem`: `tollgate serve` gives each gateway its own Prometheus registry.
///
/// Labels stay bounded: resources and networks are those configured (anything else is `other`), and open
/// sets admit a fixed number of distinct values (64 reasons, shared by every metric) before `other`.
public final class GatewayMetrics: AuditObserver, Sendable {
    let series: MetricSeries
    let labels: Labels
    let assets: AssetLookup
    let facilitators: FacilitatorPool?
    let controls: OperatorControls?
    /// Read at scrape time for `tollgate_store_up` and the group commit's counters.
    let storeHealth: (@Sendable () -> StoreHealth)?
    /// The group commit's totals as last added to its counters.
    let commitsCounted = Mutex(CommitStatistics())
    let breakersOpen: Meter
    let auditHeadSeq: Meter
    let auditBacklogEvents: Meter
    /// Every incident scope shown so far (global and the paid resources from the start): an incident that
    /// ended shows 0, not a vanished series.
    let incidentScopes: Mutex<Set<String>>
    /// The `tollgate_requests_total` series of each of `statusClasses`, once a response of that class was
    /// counted: every response is counted, so it costs one short lock and the backend's add, with no label array.
    let statusCounters = Mutex<[Counter?]>(Array(repeating: nil, count: statusClasses.count))
    static let statusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx", LabelLimiter.other]

    /// The limiters of each label.
    struct Labels: Sendable {
        let resources: LabelLimiter
        let networks: LabelLimiter
        let reasons = LabelLimiter(capacity: 64)
        let stages = LabelLimiter(capacity: 32)
        let classes = LabelLimiter(capacity: 8, preset: TrafficClass.allCases.map(\.rawValue))
        let kinds = LabelLimiter(capacity: 8)
        let flags = LabelLimiter(closed: ["true", "false"])
    }

    /// - Parameters:
    ///   - factory: the swift-metrics backend every metric is recorded into (TollgateAdmin's `MetricsExposition.factory`
    ///     for a Prometheus registry of its own).
    ///   - routes: the configured routes: their resource ids are the `resource` values, and the funnel series
    ///     of paid routes exist (at 0) from the start.
    ///   - assets: the configured assets, to label amounts and convert them to whole tokens.
    ///   - facilitators, controls, storeHealth: read at scrape time for the breaker, incident and store gauges.
    public init(factory: any MetricsFactory, routes: [Route] = [], assets: [Asset] = [],
                facilitators: FacilitatorPool? = nil, controls: OperatorControls? = nil, storeHealth: (@Sendable () -> StoreHealth)? = nil) {
        self.storeHealth = storeHealth
        let series = MetricSeries(factory: factory)
        self.series = series
        self.assets = AssetLookup(assets)
        self.facilitators = facilitators
        self.controls = controls
        let networks = assets.map(\.network) + routes.flatMap { $0.pricing?.accepts.map(\.asset.network) ?? [] }
        self.labels = Labels(resources: LabelLimiter(closed: routes.map(\.resource)), networks: LabelLimiter(closed: networks))
        self.breakersOpen = series.meter(.breakersOpen)
        self.auditHeadSeq = series.meter(.auditHeadSeq)
        self.auditBacklogEvents = series.meter(.auditBacklog)
        auditBacklogEvents.set(0)
        self.incidentScopes = Mutex(Set(["global"] + routes.filter { $0.pricing != nil }.map(\.resource)))
        precreate(routes)
    }

    // MARK: audit events

    /// The audit head was published.
    public func publishedAuditHead(_ head: AuditHead) {
        auditHeadSeq.set(Double(head.seq))
    }

    /// The audit batcher flushed: `waiting` events are held, `refused` were refused since its last report.
    public func auditBacklog(waiting: Int, refused: Int) {
        auditBacklogEvents.set(waiting)
        if refused > 0 { series.increment(.auditRefused, [], by: Int64(refused)) }
    }

    public func observe(_ events: [AuditEvent]) {
        for index in events.indices { record(events[index], at: index, of: events) }
    }

    private func record(_ event: AuditEvent, at index: Int, of batch: [AuditEvent]) {
        let stage = labels.stages.value(event.stage.rawValue)
        series.increment(.auditEvents, [("stage", stage), ("outcome", event.outcome.rawValue)])
        if event.outcome == .denied {
            series.increment(.denials, [("stage", stage), ("reason", labels.reasons.value(event.reason))])
        }
        switch (event.stage, event.outcome) {
        case (.offer, .issued):
            series.increment(.paymentRequired, [("resource", resource(event)), ("reason", labels.reasons.value(event.reason))])
        case (.proof, .received):
            series.increment(.proofsReceived, [("resource", resource(event))])
        case (.proof, .denied), (.verify, .denied), (.reserve, .denied), (.facilitatorVerify, .denied):
            series.increment(.proofsRefused, [("resource", resource(event)), ("reason", labels.reasons.value(event.reason))])
        case (.facilitatorVerify, .ok):
            series.increment(.proofsVerified, [("resource", resource(event))])
        case (.settle, .ok):
            settled(event)
        case (.settle, .denied), (.settle, .error):
            // A pending settlement asked again is decided by the later attempt in the same flow.
            let superseded = batch[(index + 1)...].contains { $0.stage == .settle && $0.correlationId == event.correlationId }
            if !superseded {
                series.increment(.settlementFailures, [("resource", resource(event)), ("reason", labels.reasons.value(event.reason))])
            }
        case (.admit, .denied):
            series.increment(.rateLimited, [("class", labels.classes.value(event.details["class"]))])
        case (.refund, .ok):
            refunded(event)
        default:
            break
        }
    }

    private func settled(_ event: AuditEvent) {
        let resource = resource(event)
        let network = labels.networks.value(event.details["network"])
        series.increment(.settlements, [("resource", resource), ("network", network)])
        if let (asset, amount) = assets.wholeUnits(event.details["amount"], asset: event.details["asset"], network: event.details["network"]) {
            series.amount(.revenue, [("resource", resource), ("network", network), ("asset", asset.id)]).increment(by: amount)
        }
    }

    private func refunded(_ event: AuditEvent) {
        let kind = event.details["kind"]
        series.increment(.refunds, [("kind", labels.kinds.value(kind)), ("automatic", labels.flags.value(event.details["automatic"]))])
        guard kind == Refund.Kind.payout.rawValue,
              let (asset, amount) = assets.wholeUnits(event.details["amount"], asset: event.details["asset"], network: event.details["network"])
        else { return }
        series.amount(.refunded, [("network", labels.networks.value(asset.network)), ("asset", asset.id)]).increment(by: amount)
    }

    private func resource(_ event: AuditEvent) -> String { labels.resources.value(event.resource) }

    // MARK: HTTP

    /// Counts one response of the gateway listener.
    public func countResponse(status: Int) {
        let index = (1...5).contains(status / 100) ? status / 100 - 1 : Self.statusClasses.count - 1
        let counter = statusCounters.withLock { $0[index] } ?? statusCounter(index)
        counter.increment()
    }

    /// The series of `statusClasses[index]`, registered and kept on its first response.
    private func statusCounter(_ index: Int) -> Counter {
        let counter = series.counter(.requests, [("status", Self.statusClasses[index])])
        statusCounters.withLock { $0[index] = counter }
        return counter
    }

    /// The funnel series of every paid route, at 0, so rates and ratios are defined before the first payment.
    private func precreate(_ routes: [Route]) {
        for route in routes {
            guard let pricing = route.pricing else { continue }
            let resource = labels.resources.value(route.resource)
            _ = series.counter(.paymentRequired, [("resource", resource), ("reason", labels.reasons.value(Reason.paymentRequired.rawValue))])
            _ = series.counter(.proofsReceived, [("resource", resource)])
            _ = series.counter(.proofsVerified, [("resource", resource)])
            for network in Set(pricing.accepts.map(\.asset.network)).sorted() {
                _ = series.counter(.settlements, [("resource", resource), ("network", labels.networks.value(network))])
            }
        }
        for trafficClass in TrafficClass.allCases {
            _ = series.counter(.rateLimited, [("class", trafficClass.rawValue)])
        }
        _ = series.counter(.auditRefused, [])
    }
}

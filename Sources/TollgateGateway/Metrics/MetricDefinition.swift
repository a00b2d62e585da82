/// A metric's name and help text, one definition each. swift-metrics carries only the name (a metric's
/// `label`) and its dimensions: a backend that shows help text (the Prometheus exposition of TollgateAdmin)
/// reads it here, from `all`.
public struct MetricDefinition: Sendable {
    public let name: String
    public let help: String
    /// A timer's histogram buckets, for a backend that keeps timers as histograms; nil for other metrics.
    public let buckets: [Duration]?

    init(name: String, help: String, buckets: [Duration]? = nil) {
        self.name = name
        self.help = help
        self.buckets = buckets
    }
}

extension MetricDefinition {
    /// Every metric the gateway records.
    public static let all: [MetricDefinition] = [
        requests, paymentRequired, proofsReceived, proofsVerified, proofsRefused, settlements, settlementFailures, revenue, refunds,
        refunded, rateLimited, denials, auditEvents, facilitatorDuration, facilitatorErrors, paidRequestOverhead, breakersOpen, incidentActive,
        auditHeadSeq, storeUp, auditBacklog, auditRefused, storeCommits, storeCommittedWrites, storeBusy, storeQueueWait,
    ]

    // HTTP
    static let requests = Self(name: "tollgate_requests_total", help: "Responses of the gateway listener by status class (2xx, 4xx …).")
    // payment funnel
    static let paymentRequired = Self(name: "tollgate_payment_required_total",
                                      help: "402 answers with payment terms, by resource and reason (payment_required for a first offer, else the refusal).")
    static let proofsReceived = Self(name: "tollgate_proofs_received_total", help: "Payment proofs received (decoded from PAYMENT-SIGNATURE), by resource.")
    static let proofsVerified = Self(name: "tollgate_proofs_verified_total", help: "Payment proofs the facilitator verified, by resource.")
    static let proofsRefused = Self(name: "tollgate_proofs_refused_total",
                                    help: "Payment proofs refused (malformed, local checks, replay, facilitator), by resource and reason.")
    static let settlements = Self(name: "tollgate_settlements_total", help: "Payments settled, by resource and network.")
    static let settlementFailures = Self(name: "tollgate_settlement_failures_total",
                                         help: "Settlements refused, pending or failed (final outcome of each flow), by resource and reason.")
    static let revenue = Self(name: "tollgate_revenue_total", help: "Amount settled in whole token units, by resource, network and asset.")
    static let refunds = Self(name: "tollgate_refunds_total", help: "Refunds recorded, by kind (payout, package_credit) and whether the gateway made them.")
    static let refunded = Self(name: "tollgate_refunded_total", help: "Amount refunded as payouts in whole token units, by network and asset.")
    // refusals
    static let rateLimited = Self(name: "tollgate_rate_limited_total", help: "Requests refused with 429, by traffic class (unpaid, paid, invalid).")
    static let denials = Self(name: "tollgate_denials_total", help: "Audit events with outcome denied, by stage and reason.")
    static let auditEvents = Self(name: "tollgate_audit_events_total", help: "Audit events committed, by stage and outcome.")
    static let auditBacklog = Self(name: "tollgate_audit_backlog_events",
                                   help: "Unpaid-path audit events held in memory, not yet written (grows while the store refuses writes).")
    static let auditRefused = Self(name: "tollgate_audit_events_refused_total",
                                   help: "Unpaid-path audit events refused because the backlog was full (the store refusing writes); their requests answered 503 or, for other refusals, went unaudited.")
    // facilitators
    /// Buckets from 5 ms (a local facilitator) to 10 s (past any configured timeout).
    static let facilitatorDuration = Self(name: "tollgate_facilitator_request_duration_seconds",
                                          help: "Duration of calls to facilitators, by facilitator (host:port) and operation.",
                                          buckets: [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                                    .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10)])
    static let facilitatorErrors = Self(name: "tollgate_facilitator_errors_total",
                                        help: "Facilitator calls that failed (unreachable, timeout, bad status, undecodable), by facilitator and operation.")
    // the gateway's own share of a paid request
    /// Buckets from 100 µs to 1 s, a quarter of a millisecond apart up to 1.5 ms: what the gateway adds is normally
    /// one to a few milliseconds (its synced commits included), and its median must be readable to a tenth of that.
    static let paidRequestOverhead = Self(name: "tollgate_paid_request_overhead_seconds",
                                          help: "Time the gateway added to each paid request: arrival to answer, less the waits for the facilitator and the upstream, by resource.",
                                          buckets: [.microseconds(100), .microseconds(250), .microseconds(500), .microseconds(750),
                                                    .milliseconds(1), .microseconds(1250), .microseconds(1500), .milliseconds(2),
                                                    .milliseconds(3), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                                                    .seconds(1)])
    // read at scrape time
    static let breakersOpen = Self(name: "tollgate_circuit_breakers_open", help: "Facilitators whose circuit breaker is open.")
    static let incidentActive = Self(name: "tollgate_incident_active", help: "1 while an incident switch is on, by scope (global or a resource id).")
    static let storeUp = Self(name: "tollgate_store_up",
                              help: "1 while the store answers, 0 after an operation found it unreachable (paid requests answer 503), by backend.")
    // the store's group commit, read at scrape time (`StoreHealth.commits`)
    static let storeCommits = Self(name: "tollgate_store_commits_total", help: "Transactions the store's group commit committed, by backend.")
    static let storeCommittedWrites = Self(name: "tollgate_store_committed_writes_total",
                                           help: "Writes those transactions held, by backend (divided by the commits: writes per commit).")
    static let storeBusy = Self(name: "tollgate_store_busy_seconds_total",
                                help: "Time the store's writer spent running batches of writes, by backend (its rate near 1: writes queue behind it).")
    static let storeQueueWait = Self(name: "tollgate_store_queue_wait_seconds_total",
                                     help: "Time writes waited for their batch to start, summed over writes, by backend.")
    static let auditHeadSeq = Self(name: "tollgate_audit_head_seq", help: "The seq of the newest audit event, as last published (compare it with the head file).")
}

import Prometheus

/// A metric's name and help text: one definition each, so every registration of a name agrees (the
/// registry refuses a second help text for the same name).
struct MetricDefinition: Sendable {
    let name: String
    let help: String

    /// How the registry takes the name and help text. The whole name is the descriptor's `metricName`:
    /// with no namespace, subsystem or unit to join to it, the exposed name is `name` exactly.
    var descriptor: MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}

extension MetricDefinition {
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
    // facilitators
    static let facilitatorDuration = Self(name: "tollgate_facilitator_request_duration_seconds",
                                          help: "Duration of calls to facilitators, by facilitator (host:port) and operation.")
    static let facilitatorErrors = Self(name: "tollgate_facilitator_errors_total",
                                        help: "Facilitator calls that failed (unreachable, timeout, bad status, undecodable), by facilitator and operation.")
    // read at scrape time
    static let breakersOpen = Self(name: "tollgate_circuit_breakers_open", help: "Facilitators whose circuit breaker is open.")
    static let incidentActive = Self(name: "tollgate_incident_active", help: "1 while an incident switch is on, by scope (global or a resource id).")
    static let auditHeadSeq = Self(name: "tollgate_audit_head_seq", help: "The seq of the newest audit event, as last published (compare it with the head file).")
}

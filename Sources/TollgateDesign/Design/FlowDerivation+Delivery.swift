import TollgateConfiguration
import TollgateCore
import TollgateX402

/// The steps after the spend holds: settlement, forwarding, consumption, the final decision, metering, the answer.
extension FlowDerivation {
    func settleBefore() -> FlowStep {
        let before = paidRoutes.filter { $0.pricing?.settle == "before" }.map(\.resource)
        let automatic = configuration.refunds.automatic
        var labels = before.isEmpty ? ["no route settles before"] : ["settle: before on \(before.joined(separator: ", "))"]
        labels.append(automatic ? "refunds.automatic: a pending_payout refund at once" : "refunds.automatic: false: held for manual review")
        labels.append(configuration.refunds.payoutContact.map { "payouts: \($0)" } ?? "no refunds.payout_contact")
        let undelivered = automatic ? [AuditSignal("refund", "ok", "automatic_refund"),
                                       AuditSignal("respond", "denied", nil, note: "why it was not delivered; settled=true, refund_id")]
            : [AuditSignal("respond", "denied", nil, note: "why it was not delivered; settled=true, refund=manual_review")]
        return FlowStep(id: "settle_before", title: "settle (before forwarding)", lane: .proof, owner: .facilitator, active: !before.isEmpty,
                        checks: ["/settle first, recorded before forwarding (work that cannot be undone)",
                                 automatic ? "not delivered afterwards → an automatic pending_payout refund, named in Tollgate-Refund"
                                     : "not delivered afterwards → the payment is held for an operator to review (no refund record)"],
                        configuration: labels,
                        refusals: settleRefusals + [automatic ? "the upstream's answer or 502, with Tollgate-Refund" : "the upstream's answer or 502, payment held"],
                        audit: settleAudit + undelivered)
    }

    func forward() -> FlowStep {
        FlowStep(id: "forward", title: "forward", lane: .proof, owner: .upstream, active: hasPaidRoutes,
                 checks: ["signed contract headers: Tollgate-Client, -Payer, -Amount, -Unit, -Correlation-Id, -Timestamp, -Signature",
                          "payment headers, API keys and any client Tollgate-* header stripped"],
                 configuration: ["upstream \(HTTPOrigin.shown(configuration.upstreamURL)), timeout \(Int(configuration.upstreamTimeoutSeconds)) s",
                                 "paid answers buffered up to \(DesignNumber.bytes(configuration.maxUpstreamResponseBytes)) bytes",
                                 "contract signed with \(configuration.secrets.first?.id ?? "?")"],
                 refusals: ["502 upstream_unavailable (nothing charged; the proof may be presented again)"],
                 audit: [AuditSignal("forward", "ok"), AuditSignal("forward", "error", "upstream_unavailable"),
                         AuditSignal("respond", "denied", "upstream_unavailable")])
    }

    func consumption() -> FlowStep {
        var labels: [String] = []
        for moment in ["on_success", "on_request"] {
            let group = paidRoutes.filter { $0.pricing?.consumed == moment }.map(\.resource)
            if !group.isEmpty { labels.append("\(moment == "on_success" ? "on_success (< 400)" : "on_request (any answer)"): \(group.joined(separator: ", "))") }
        }
        for route in paidRoutes {
            guard let pricing = route.pricing, pricing.measure != "quoted" else { continue }
            labels.append("\(route.resource) measured by \(pricing.measure)")
        }
        return FlowStep(id: "consumption", title: "consumption moment", lane: .proof, owner: .upstream, active: hasPaidRoutes,
                        checks: ["the route's moment decides whether the answer consumed units (and so is charged)",
                                 "units measured: as quoted, a header, a JSON array, body bytes or elapsed seconds"],
                        configuration: labels,
                        refusals: ["the upstream's own answer, not charged (reservation released)"],
                        audit: [AuditSignal("forward", "ok", "upstream_refused"), AuditSignal("respond", "denied", "upstream_refused")])
    }

    func privateFields() -> FlowStep {
        let labels = routes.compactMap { route in
            route.privateFields.map { "\(route.resource): \($0.fields.joined(separator: ", ")) unless \($0.scope)" }
        }
        return FlowStep(id: "private_fields", title: "private fields", lane: .proof, owner: .gateway, active: hasPaidRoutes && !labels.isEmpty,
                        checks: ["named JSON fields removed unless the client holds the scope",
                                 "an answer that must be filtered but is not JSON is neither delivered nor charged"],
                        configuration: labels.isEmpty ? ["no private fields"] : labels, refusals: ["502 unfilterable_response"],
                        audit: [AuditSignal("decide", "ok", "private_fields_removed"), AuditSignal("decide", "denied", "unfilterable_response"),
                                AuditSignal("respond", "denied", "unfilterable_response")])
    }

    func settle() -> FlowStep {
        let after = paidRoutes.filter { $0.pricing?.settle == "after" }.map(\.resource)
        return FlowStep(id: "settle", title: "settle (after delivery)", lane: .proof, owner: .facilitator, active: !after.isEmpty,
                        checks: ["the incident switch again, then /settle only for a consumed answer",
                                 "settlement_pending: asked once more with the same body, never a fresh 402"],
                        configuration: after.isEmpty ? ["no route settles after"] : ["settle: after on \(after.joined(separator: ", "))"],
                        refusals: settleRefusals, audit: settleAudit)
    }

    func meter() -> FlowStep {
        let labels = paidRoutes.compactMap { route in
            route.pricing.map { pricing in
                "\(route.resource): \(pricing.unit)" + (pricing.package.map { " (package \($0.name))" } ?? "")
            }
        }
        return FlowStep(id: "meter", title: "meter", lane: .proof, owner: .gateway, active: hasPaidRoutes,
                        checks: ["one usage event per flow (idempotent by correlation id), in the settlement's transaction",
                                 "a package purchase credits the paying client's balance"],
                        configuration: labels, audit: [AuditSignal("meter", "ok", "units_consumed")])
    }

    func respond() -> FlowStep {
        let automatic = configuration.refunds.automatic
        return FlowStep(id: "respond", title: "respond", lane: .proof, owner: .gateway, active: hasPaidRoutes,
                        checks: ["PAYMENT-RESPONSE receipt, Cache-Control: private, Tollgate-Correlation-Id",
                                 "nothing is served that is not recorded",
                                 automatic ? "a settled answer the connection cannot take: audited, and a pending_payout refund recorded"
                                     : "a settled answer the connection cannot take: audited (no automatic refund)"],
                        configuration: ["Retry-After \(configuration.retryAfterSeconds) s on every 503"],
                        refusals: ["503 store_unavailable"],
                        audit: [AuditSignal("respond", "ok", "delivered"), AuditSignal("respond", "denied", "store_unavailable"),
                                AuditSignal("respond", "error", "connection_failed")]
                            + (automatic ? [AuditSignal("refund", "ok", "automatic_refund")] : []))
    }

    // MARK: shared

    var settleRefusals: [String] {
        ["402 + PAYMENT-RESPONSE success:false (no body)", "503 settlement_pending / settlement_unknown (held for reconciliation)", "503 incident"]
    }

    var settleAudit: [AuditSignal] {
        [AuditSignal("settle", "ok"), AuditSignal("settle", "error", "settlement_pending"), AuditSignal("respond", "denied", "settlement_pending"),
         AuditSignal("settle", "error", "settlement_unknown"), AuditSignal("respond", "denied", "settlement_unknown"),
         AuditSignal("settle", "denied", nil, note: "the facilitator's errorReason"), AuditSignal("respond", "denied", "settlement_failed"),
         AuditSignal("settle", "denied", "incident"), AuditSignal("respond", "denied", "incident")]
    }

    func facilitatorLabels() -> [String] {
        networks.map { network in
            let chain = network.facilitators.map { "\($0.url) (\($0.timeoutSeconds) s)" }.joined(separator: " → ")
            return "\(network.network): \(chain.isEmpty ? "none" : chain)" + (network.failover ? ", failover in this order" : ", no failover")
        }
    }
}

import TollgateConfiguration
import TollgateCore
import TollgateX402

extension ConfigurationLint {
    /// TG110, TG111, TG116, TG119: who settles, and what happens to a payment taken before delivery.
    static func checkSettlement(_ c: inout LintContext) {
        let paid = c.paidRoutes
        for network in c.configuration.paidNetworks.sorted() {
            let known = KnownNetwork.named(network)
            let routes = paid.filter { $0.pricing.accepts.contains { $0.asset.network == network } }.map { c.name(route: $0.index) }
            let serving = c.configuration.facilitators.serving(network)
            if known?.isMainNet ?? true, serving.count == 1, let only = serving.first {
                c.report(.singleFacilitator, at: "facilitators[\(only.index)]",
                         "\(KnownNetwork.label(network)) is paid on \(summary(routes)) through one facilitator, \(c.name(facilitator: only.index)): "
                            + "when it is down or slow those routes answer 503",
                         fix: "add a second facilitator with `networks: [\(network)]`")
            }
            if known?.isMainNet ?? false {
                for (index, facilitator) in serving where LintContext.isLoopback(url: facilitator.url) {
                    c.report(.mainNetDevFacilitator, at: "facilitators[\(index)].url",
                             "\(KnownNetwork.label(network)) is a main net, paid on \(summary(routes)), and \(c.name(facilitator: index)) serving it "
                                + "listens on loopback, where the development facilitator and test doubles run",
                             fix: "point \(network) at a production facilitator's https URL (and list only test networks on loopback facilitators)")
                }
            }
        }

        let refunds = c.configuration.refunds
        for (index, _, pricing) in paid where pricing.metering.settle == .before {
            let name = c.name(route: index)
            switch (refunds.automatic, refunds.payoutContact) {
            case (true, .some):
                continue
            case (true, nil):
                c.report(.settleBeforeWithoutRefunds, at: "routes[\(index)].settle",
                         "\(name) settles before forwarding; an undelivered answer gets a refund record (pending_payout), "
                            + "but no `refunds.payout_contact` says who pays it out",
                         fix: "add `refunds: {payout_contact: <the team or mailbox that runs tollgate refund close>}`")
            case (false, .some(let contact)):
                c.report(.settleBeforeWithoutRefunds, at: "routes[\(index)].settle",
                         "\(name) settles before forwarding and `refunds.automatic` is false: each undelivered answer leaves a settled "
                            + "payment with no refund record, held for manual review by \(contact)",
                         fix: "set `refunds.automatic: true` so each one gets a pending_payout record; or `settle: after` if the work can be retried")
            case (false, nil):
                c.report(.settleBeforeWithoutRefunds, at: "routes[\(index)].settle",
                         "\(name) settles before forwarding, `refunds.automatic` is false and no `refunds.payout_contact` is named: "
                            + "payments for undelivered answers are kept with no refund record and nobody to review them",
                         severity: .error,
                         fix: "set `refunds: {automatic: true, payout_contact: <who closes pending refunds>}`; or `settle: after`")
            }
        }

        let window = c.configuration.idempotencyWindowSeconds, upstream = Int(c.configuration.upstreamTimeoutSeconds.rounded(.up))
        let before = paid.filter { $0.pricing.metering.settle == .before }.map { c.name(route: $0.index) }
        if !before.isEmpty, window < upstream {
            c.report(.windowShorterThanUpstream, at: "idempotency_window_seconds",
                     "\(summary(before)) settle before forwarding and may run for up to \(upstream) s (`upstream.timeout_seconds`), but "
                        + "`idempotency_window_seconds` is \(window) s: work still running when the window ends is refunded by the "
                        + "reconciler and its answer withheld",
                     fix: "set `idempotency_window_seconds` to at least \(upstream), or lower `upstream.timeout_seconds`")
        }
    }
}

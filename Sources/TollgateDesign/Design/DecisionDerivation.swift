import TollgateConfiguration
import TollgateCore

/// The choices a configuration leaves open before launch, each raised by facts of this configuration.
struct DecisionDerivation {
    let configuration: GatewayConfiguration
    let report: DesignReportParts

    var paidRoutes: [RouteDesign] { report.routes.filter { $0.pricing != nil } }

    func derive() -> [OpenDecision] {
        guard !paidRoutes.isEmpty else { return [freeOnly()] }
        let candidates: [OpenDecision?] = [
            spendCaps(), quotas(), anonymousPaid(), identityKinds(), adminListener(), pendingPayouts(), packages(),
            facilitatorFailover(), developmentFacilitator(), testNetworks(), publicURL(), proxyAddresses(), idempotency(),
            auditRetention(), unmatchedPass(), secretRotation(), upstreamContract(), singleInstance(),
        ]
        return candidates.compactMap { $0 }
    }

    func freeOnly() -> OpenDecision {
        OpenDecision(id: "no_paid_routes", title: "No paid route", question: "Is this gateway meant to charge for anything yet?",
                     facts: ["\(report.routes.count) route(s), none with a price: every request is identified, authorized and forwarded free"],
                     options: ["add price (and accepts, pay_to) to the routes to sell", "keep it as an authenticating proxy"])
    }

    func spendCaps() -> OpenDecision? {
        guard configuration.spendCaps.isEmpty else {
            let subjects = Set(configuration.spendCaps.map(\.subject.rawValue))
            guard !subjects.contains("payer"), !report.identity.anonymousRoutes.isEmpty else { return nil }
            let anonymousPaid = paidRoutes.filter(\.anonymous).map(\.resource)
            guard !anonymousPaid.isEmpty else { return nil }
            return OpenDecision(id: "spend_caps", title: "Anonymous spend is not capped",
                                question: "Should a paying address on the anonymous routes have a ceiling?",
                                facts: ["spend caps per \(subjects.sorted().joined(separator: ", ")) only; anonymous callers are not one spender",
                                        "anonymous paid routes: \(anonymousPaid.joined(separator: ", "))"],
                                options: ["add spend_caps per: payer (day or month)", "accept: the paid rate limit per payer is the only bound"])
        }
        let most = paidRoutes.compactMap { route in route.pricing.map { "\(route.resource) up to \($0.maxPayment) \($0.assetName) per payment" } }
        return OpenDecision(id: "spend_caps", title: "No spend caps",
                            question: "What may one client, organisation or payer spend per day or month before the gateway refuses?",
                            facts: ["spend_caps is empty: a runaway agent is bounded only by the paid rate limit"] + most,
                            options: ["spend_caps per client and per organisation (day and month)", "spend_caps per payer for anonymous routes",
                                      "accept unbounded spend (say so in the terms)"])
    }

    func quotas() -> OpenDecision? {
        let perUnit = paidRoutes.filter { $0.pricing?.rule == "per_unit" }
        guard configuration.quotas.isEmpty, !perUnit.isEmpty else { return nil }
        return OpenDecision(id: "quotas", title: "No quotas on metered units",
                            question: "Should a client's consumption of units be bounded independently of money?",
                            facts: perUnit.compactMap { route in route.pricing.map { "\(route.resource): up to \($0.quantity.maximum ?? 0) \($0.unit) per request" } },
                            options: ["quotas per client or organisation per day or month", "rely on spend caps and rate limits"])
    }

    func anonymousPaid() -> OpenDecision? {
        let routes = paidRoutes.filter(\.anonymous).map(\.resource)
        guard !routes.isEmpty else { return nil }
        return OpenDecision(id: "anonymous_paid_routes", title: "Anonymous paid routes",
                            question: "Is anyone with a funded wallet meant to buy these, with no client id for caps, quotas or support?",
                            facts: ["open to anonymous payers: \(routes.joined(separator: ", "))",
                                    "anonymous callers are limited per IP prefix and per payer only",
                                    configuration.payerAllowList == nil ? "no payers.allow list" : "payers.allow restricts who may pay"],
                            options: ["keep them anonymous (public data, pay-per-call agents)", "require API keys or JWTs (anonymous: false)",
                                      "restrict payers with payers.allow"])
    }

    func identityKinds() -> OpenDecision? {
        let clients = configuration.clients.count
        switch (clients > 0, configuration.jwt != nil) {
        case (true, true):
            return OpenDecision(id: "identity_source", title: "API keys and JWTs side by side",
                                question: "Which is the source of truth for a caller's scopes and organisation?",
                                facts: ["\(clients) API client(s) in the file", "JWTs from \(configuration.jwt!.issuer) carry their own scopes and org",
                                        "an id present in both is two identities with possibly different scopes"],
                                options: ["JWTs for agents of organisations, keys for a few integrations", "move every caller to one kind"])
        case (true, false):
            return OpenDecision(id: "identity_source", title: "API keys only",
                                question: "How are keys issued, rotated and withdrawn, given that they live in this file?",
                                facts: ["\(clients) API client(s); adding or rotating a key means editing the file and restarting",
                                        configuration.admin == nil ? "no admin listener: a leaked key cannot be revoked while serving" : "revocation through the admin API"],
                                options: ["keep keys for a handful of clients", "add jwt: (issuer, audience, keys) for many or short-lived callers"])
        case (false, true):
            return OpenDecision(id: "identity_source", title: "JWTs only",
                                question: "Who runs the issuer, and how fast must a compromised subject be cut off?",
                                facts: ["tokens from \(configuration.jwt!.issuer) for audience \(configuration.jwt!.audience)",
                                        "revocation by subject needs the admin API"],
                                options: ["short token lifetimes", "an admin listener for revoke --client"])
        case (false, false):
            return nil
        }
    }

    /// Refunds the gateway records itself: `settle: before` routes that then deliver nothing, and any settled
    /// answer the connection could not take.
    func pendingPayouts() -> OpenDecision? {
        let before = paidRoutes.filter { $0.pricing?.settle == "before" }.map(\.resource)
        let refunds = configuration.refunds
        guard refunds.payoutContact == nil || !refunds.automatic else { return nil }
        var facts: [String] = []
        if !before.isEmpty {
            facts.append("settle: before on \(before.joined(separator: ", ")): a request that fails after settlement is owed its money back")
        }
        facts.append("on every paid route, a settled answer the connection could not take is owed back too (respond error connection_failed)")
        if refunds.automatic {
            facts.append("refunds.automatic: each becomes a pending_payout refund, closed with tollgate refund close rf_… --tx 0x…")
            facts.append("no refunds.payout_contact names who pays them out")
        } else {
            facts.append("refunds.automatic: false: no refund record; each payment is held until an operator records one with tollgate refund")
            facts.append(refunds.payoutContact.map { "payout contact: \($0)" } ?? "no refunds.payout_contact names who reviews them")
        }
        facts.append(configuration.admin == nil ? "no admin listener: refunds only on the host, with the CLI" : "or over the admin API: POST /admin/refunds")
        return OpenDecision(id: "pending_payouts", title: refunds.automatic ? "Who pays out pending refunds" : "Who reviews held payments",
                            question: refunds.automatic ? "Who pays out pending_payout refunds, from which wallet, and how fast?"
                                : "Who reviews payments held for undelivered answers, and within what time?",
                            facts: facts,
                            options: ["refunds.payout_contact naming a team and a payout schedule (daily)",
                                      before.isEmpty ? "accept manual, case-by-case refunds" : "settle: after instead, if the work can be retried safely"])
    }

    func packages() -> OpenDecision? {
        let packaged = paidRoutes.compactMap { route in route.pricing?.package.map { "\(route.resource): \($0.name), \($0.units) units" } }
        guard !packaged.isEmpty else { return nil }
        return OpenDecision(id: "package_expiry", title: "Packages never expire",
                            question: "How long is a prepaid balance honoured, and is an unused balance refundable?",
                            facts: packaged + ["balances have no expiry: unspent units are a standing liability"],
                            options: ["state a validity in the terms and refund on request (tollgate refund)", "accept indefinite balances"])
    }
}

import TollgateConfiguration
import TollgateCore

extension ConfigurationLint {
    /// TG105–TG109, TG118: rate limits per traffic class, and how long offers and authorizations live.
    static func checkLimits(_ c: inout LintContext) {
        let paid = c.paidRoutes
        guard !paid.isEmpty else { return }
        let limits = c.configuration.limits
        let classes: [(LintRule, String, KeyPath<TrafficLimits.ClassLimits, RateLimit?>, String)] = [
            (.noUnpaidLimit, "unpaid", \.unpaid, "requests without a proof each get a signed 402 and an audit event"),
            (.noPaidLimit, "paid", \.paid, "requests carrying a proof are each verified and sent to the facilitator"),
            (.noInvalidLimit, "invalid", \.invalid, "invalid proofs are each decoded and verified"),
        ]
        for (rule, name, key, effect) in classes {
            if limits.global[keyPath: key] == nil {
                // Off globally: every paid route that does not set its own limit for the class is open.
                let open = paid.filter { limits.perRoute[$0.route.resource]?[keyPath: key] == nil }.map { c.name(route: $0.index) }
                guard !open.isEmpty else { continue }
                c.report(rule, at: "limits.\(name)", "`limits.\(name)` is off: \(effect), without any limit, on \(summary(open))")
            } else {
                for (index, route, _) in paid where limits.perRoute[route.resource].map({ $0[keyPath: key] == nil }) ?? false {
                    c.report(rule, at: "routes[\(index)].limits.\(name)",
                             "`routes[\(index)].limits.\(name)` is off: \(effect), without any limit, on \(c.name(route: index))",
                             fix: "remove `\(name): off` from routes[\(index)].limits (the global limit then applies) or give it a rate")
                }
            }
        }
        for (index, route, pricing) in paid {
            if pricing.offerValiditySeconds > offerValidityThresholdSeconds {
                c.report(.longOfferValidity, at: "routes[\(index)].offer_validity_seconds",
                         "\(c.name(route: index)) signs offers valid \(pricing.offerValiditySeconds) s (more than \(offerValidityThresholdSeconds) s)",
                         fix: "set `offer_validity_seconds: 300` (at most \(offerValidityThresholdSeconds)) on routes[\(index)]")
            }
            if pricing.maxTimeoutSeconds > maxTimeoutThresholdSeconds {
                c.report(.longAuthorization, at: "routes[\(index)].max_timeout_seconds",
                         "\(c.name(route: index)) asks for authorizations valid \(pricing.maxTimeoutSeconds) s (more than \(maxTimeoutThresholdSeconds) s)",
                         fix: "set `max_timeout_seconds: 60` (at most \(maxTimeoutThresholdSeconds)) on routes[\(index)]")
            }
            let budget = TimingBudget(route, pricing: pricing, configuration: c.configuration)
            if !budget.fits {
                c.report(.authorizationExpiresBeforeSettlement, at: "routes[\(index)].max_timeout_seconds",
                         "\(c.name(route: index)) asks for authorizations valid \(budget.maxTimeoutSeconds) s, but the worst case of one paid "
                            + "request is \(budget.worstCaseSeconds) s (\(budget.worstCaseTerms)): the authorization may expire before the last "
                            + "/settle call",
                         fix: budget.worstCaseSeconds > maxTimeoutThresholdSeconds
                            ? "lower the facilitator or upstream timeouts until the worst case is at most \(maxTimeoutThresholdSeconds) s "
                                + "(a longer `max_timeout_seconds` is TG109)"
                            : "raise `max_timeout_seconds` on routes[\(index)] to at least \(budget.worstCaseSeconds), or lower the "
                                + "facilitator or upstream timeouts")
            }
        }
    }

    /// The first few names, then how many more.
    static func summary(_ names: [String], limit: Int = 3) -> String {
        names.count <= limit ? names.listed : names.prefix(limit).joined(separator: ", ") + " and \(names.count - limit) more route(s)"
    }
}

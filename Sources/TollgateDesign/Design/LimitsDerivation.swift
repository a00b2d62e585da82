import TollgateConfiguration
import TollgateCore
import TollgateX402

/// Derives the rate-limit section: the relations the limits must satisfy, what is missing, and
/// recommended numbers computed from what is configured (each with its formula).
struct LimitsDerivation {
    let configuration: GatewayConfiguration
    let routes: [RouteDesign]
    let networks: [NetworkDesign]

    /// The built-in paid limit, the anchor when the configuration has none.
    static let defaultPaid = RateFigure(ratePerSecond: 10, burst: 20)
    /// A route whose request costs this many times the cheapest route's is expensive.
    static let expensiveFactor = 10.0

    static let formulaUnpaid = "unpaid = 2 × paid: every paid request follows a 402, and every refused proof gets a fresh one"
    static let formulaInvalid = "invalid = paid ÷ 10 (burst ÷ 4): honest proofs rarely fail; the rest is what a forger may make the gateway check"
    static let formulaPaid = "paid = unpaid ÷ 2 when only unpaid is set, else the built-in 10/s, burst 20"
    static let formulaRoute = "route paid = paid × cheapest request ÷ this route's request: the same value per second per caller as the cheapest route"

    var paidRoutes: [RouteDesign] { routes.filter { $0.pricing != nil } }

    func derive() -> LimitsDesign {
        let global = ClassLimitsDesign(globalLimits: configuration.limits)
        let scopes = [global] + paidRoutes.map(\.limits).filter { $0.source == "route" }
        let tables = scopes.reduce(0) { count, scope in
            count + ["unpaid", "paid", "invalid"].filter { scope.figure($0) != nil }.count
        }
        return LimitsDesign(
            global: global, routes: paidRoutes.map(\.limits),
            keys: ["client id (identified callers)",
                   "IP prefix /\(configuration.limits.ipv4PrefixBits) (IPv4), /\(configuration.limits.ipv6PrefixBits) (IPv6)",
                   "payer address (paid class, once the signature is verified)"],
            maxKeys: configuration.limits.maxKeys, ipv4Prefix: configuration.limits.ipv4PrefixBits, ipv6Prefix: configuration.limits.ipv6PrefixBits,
            invalidProofCacheSeconds: configuration.limits.invalidProofCacheSeconds, limiterTables: tables,
            perPayerPaid: global.paid, checks: checks(scopes), gaps: gaps(global), recommendations: recommendations(scopes),
            capacity: capacity(), timing: timing())
    }

    // MARK: relations

    func checks(_ scopes: [ClassLimitsDesign]) -> [LimitCheck] {
        var result: [LimitCheck] = []
        for scope in scopes {
            if let invalid = scope.invalid, let paid = scope.paid {
                result.append(LimitCheck(id: "invalid_le_paid", scope: scope.scope, rule: "invalid ≤ paid", values: "\(invalid) ≤ \(paid)",
                                         holds: invalid.isAtMost(paid),
                                         why: "a proof the facilitator refuses cost a /verify call; more invalid than paid budget lets bad proofs outpace good ones"))
            }
            if let paid = scope.paid, let unpaid = scope.unpaid {
                result.append(LimitCheck(id: "paid_le_unpaid", scope: scope.scope, rule: "paid ≤ unpaid", values: "\(paid) ≤ \(unpaid)",
                                         holds: paid.isAtMost(unpaid),
                                         why: "each paid request needs the 402 that made its offer: a lower unpaid budget starves honest payers first"))
            }
        }
        for facilitator in configuration.facilitators {
            let timeout = Int(facilitator.timeoutSeconds) * 1000, slow = Int(facilitator.breaker.slowCallMillis)
            result.append(LimitCheck(id: "slow_below_timeout", scope: HTTPOrigin.shown(facilitator.url), rule: "breaker slow_ms < timeout",
                                     values: "\(slow) ms < \(timeout) ms", holds: slow < timeout,
                                     why: "a call slower than slow_ms should count as failing before it times out, so a slow facilitator leaves rotation early"))
        }
        return result
    }

    // MARK: what is missing

    func gaps(_ global: ClassLimitsDesign) -> [LimitGap] {
        guard !paidRoutes.isEmpty else { return [] }
        var result: [LimitGap] = []
        let anchor = global.paid ?? global.unpaid.map { $0.scaled(0.5) } ?? Self.defaultPaid
        for route in paidRoutes {
            for trafficClass in ["unpaid", "paid", "invalid"] where route.limits.figure(trafficClass) == nil {
                let scope = route.limits.source == "route" ? route.resource : "global"
                guard !result.contains(where: { $0.kind == trafficClass && $0.scope == scope }) else { continue }
                let paid = route.limits.paid ?? anchor
                let (recommended, formula) = switch trafficClass {
                case "unpaid": (paid.scaled(2), Self.formulaUnpaid)
                case "paid": (anchor, Self.formulaPaid)
                default: (invalidFigure(paid), Self.formulaInvalid)
                }
                let what = switch trafficClass {
                case "unpaid": "no unpaid limit: requests without a proof (402s) are not limited"
                case "paid": "no paid limit: requests carrying a proof, and so facilitator calls, are not limited per caller or payer"
                default: "no invalid-proof limit: forged or replayed proofs are verified as fast as they arrive"
                }
                result.append(LimitGap(kind: trafficClass, scope: scope, message: scope == "global" ? what : "\(what) on \(scope)",
                                       recommended: recommended, formula: formula))
            }
        }
        if configuration.limits.invalidProofCacheSeconds == 0 {
            result.append(LimitGap(kind: "invalid_proof_cache", scope: "global",
                                   message: "invalid_proof_cache_seconds is 0: the same refused proof is decoded and verified every time",
                                   recommended: nil, formula: "invalid_proof_cache_seconds ≥ 60 (the default)"))
        }
        for (route, reason) in expensiveRoutes() where route.limits.source == "global" {
            result.append(LimitGap(kind: "route_limits", scope: route.resource,
                                   message: "no limits of its own for an expensive route (\(reason)); it shares the global budget of the cheapest route",
                                   recommended: routePaid(route, anchor: anchor), formula: Self.formulaRoute))
        }
        // The gateway-wide gaps first, then the routes' in route order.
        return result.filter { $0.scope == "global" } + result.filter { $0.scope != "global" }
    }

    // MARK: recommended numbers

    func recommendations(_ scopes: [ClassLimitsDesign]) -> [LimitRecommendation] {
        guard !paidRoutes.isEmpty else { return [] }
        var result: [LimitRecommendation] = []
        for scope in scopes {
            let paid = scope.paid ?? scope.unpaid.map { $0.scaled(0.5) } ?? Self.defaultPaid
            result.append(recommend(scope, "unpaid", paid.scaled(2), Self.formulaUnpaid, higherIsBetter: true))
            result.append(recommend(scope, "paid", paid, scope.paid == nil ? Self.formulaPaid : "paid: as configured; the facilitator must carry it (see capacity)",
                                    higherIsBetter: nil))
            result.append(recommend(scope, "invalid", invalidFigure(paid), Self.formulaInvalid, higherIsBetter: false))
        }
        let global = scopes[0]
        let anchor = global.paid ?? Self.defaultPaid
        for (route, _) in expensiveRoutes() where route.limits.source == "global" {
            let paid = routePaid(route, anchor: anchor)
            result.append(LimitRecommendation(scope: route.resource, trafficClass: "unpaid", configured: route.limits.unpaid,
                                              recommended: paid.scaled(2), status: "set", formula: Self.formulaUnpaid))
            result.append(LimitRecommendation(scope: route.resource, trafficClass: "paid", configured: route.limits.paid,
                                              recommended: paid, status: "set", formula: Self.formulaRoute))
            result.append(LimitRecommendation(scope: route.resource, trafficClass: "invalid", configured: route.limits.invalid,
                                              recommended: invalidFigure(paid), status: "set", formula: Self.formulaInvalid))
        }
        return result
    }

    /// `higherIsBetter`: true when the configured limit should be at least the recommendation, false
    /// when at most, nil when it is the anchor itself.
    private func recommend(_ scope: ClassLimitsDesign, _ trafficClass: String, _ recommended: RateFigure, _ formula: String,
                           higherIsBetter: Bool?) -> LimitRecommendation {
        let configured = scope.figure(trafficClass)
        let status: String
        switch (configured, higherIsBetter) {
        case (nil, _): status = "set"
        case (_, nil): status = "ok"
        case (let value?, true?): status = recommended.isAtMost(value) ? "ok" : "raise"
        case (let value?, false?): status = value.isAtMost(recommended) ? "ok" : "lower"
        }
        return LimitRecommendation(scope: scope.scope, trafficClass: trafficClass, configured: configured, recommended: recommended,
                                   status: status, formula: formula)
    }

    func invalidFigure(_ paid: RateFigure) -> RateFigure {
        RateFigure(ratePerSecond: max(0.01, DesignNumber.round(paid.ratePerSecond / 10)), burst: max(1, paid.burst / 4))
    }

    // MARK: expensive routes

    /// What one request on a route costs at most, as a number for ratios.
    func charge(_ route: RouteDesign) -> Double {
        guard let pricing = route.pricing, let first = pricing.accepts.first else { return 0 }
        let decimals = configuration.assets.first { $0.id == first.asset }?.decimals ?? 0
        return (TokenAmount(decimal: pricing.maxChargePerRequest, decimals: decimals)?.approximateValue ?? 0)
    }

    /// The cheapest request among non-package paid routes (a package's per-unit price is a discount, not a baseline).
    var cheapestCharge: Double? {
        paidRoutes.filter { $0.pricing?.package == nil }.map(charge).filter { $0 > 0 }.min()
    }

    /// Routes that cost ≥ 10 × the cheapest request, or settle before forwarding, with why.
    func expensiveRoutes() -> [(RouteDesign, String)] {
        let cheapest = cheapestCharge
        return paidRoutes.compactMap { route in
            guard let pricing = route.pricing else { return nil }
            var reasons: [String] = []
            if let cheapest, pricing.package == nil, charge(route) >= cheapest * Self.expensiveFactor {
                reasons.append("up to \(pricing.maxChargePerRequest) \(pricing.assetName) per request, \(DesignNumber.format(charge(route) / cheapest))× the cheapest")
            }
            if pricing.settle == "before" { reasons.append("settles before forwarding") }
            return reasons.isEmpty ? nil : (route, reasons.joined(separator: ", "))
        }
    }

    func routePaid(_ route: RouteDesign, anchor: RateFigure) -> RateFigure {
        guard let cheapest = cheapestCharge, charge(route) > 0 else { return anchor.scaled(0.1) }
        return anchor.scaled(min(1, cheapest / charge(route)))
    }
}

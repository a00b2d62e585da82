import TollgateCore

/// The limits in force, as `GET /admin/limits` shows them: rates per traffic class (global and per
/// route), spend caps and quotas, and, for a client or payer, what it has used in each bucket.
public struct AdminPolicyView: Encodable, Sendable {
    struct Rate: Encodable, Sendable {
        var ratePerSecond: Double
        var burst: Int
    }

    struct Classes: Encodable, Sendable {
        var unpaid: Rate?
        var paid: Rate?
        var invalid: Rate?
        init(_ limits: TrafficLimits.ClassLimits) {
            func rate(_ limit: RateLimit?) -> Rate? { limit.map { Rate(ratePerSecond: $0.ratePerSecond, burst: $0.burst) } }
            unpaid = rate(limits.unpaid)
            paid = rate(limits.paid)
            invalid = rate(limits.invalid)
        }
    }

    struct Cap: Encodable, Sendable {
        var per: String
        var period: String
        var network: String?
        var asset: String?
        var unit: String?
        var max: String
    }

    var limits: Classes
    var routeLimits: [String: Classes]
    var spendCaps: [Cap]
    var quotas: [Cap]
    var used: [String: [String: String]]?

    public init(limits: TrafficLimits.ClassLimits = .init(), routeLimits: [String: TrafficLimits.ClassLimits] = [:],
                spendCaps: [SpendCap] = [], quotas: [Quota] = []) {
        self.limits = Classes(limits)
        self.routeLimits = routeLimits.mapValues(Classes.init)
        self.spendCaps = spendCaps.map { Cap(per: $0.subject.rawValue, period: $0.period.rawValue, network: $0.network, asset: $0.asset, unit: nil,
                                              max: $0.maximum.atomic) }
        self.quotas = quotas.map { Cap(per: $0.subject.rawValue, period: $0.period.rawValue, network: nil, asset: nil, unit: $0.unit,
                                       max: String($0.maximum)) }
    }
}

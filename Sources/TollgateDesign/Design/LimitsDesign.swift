import TollgateConfiguration

/// Rate limits: what is configured, the relations they must satisfy, what is missing, recommended
/// numbers computed from the configuration, the facilitator's load and the timing budget.
public struct LimitsDesign: Sendable, Hashable, Codable {
    public var global: ClassLimitsDesign
    /// The limits in force on each paid route, in route order.
    public var routes: [ClassLimitsDesign]
    /// What requests are counted under.
    public var keys: [String]
    public var maxKeys: Int
    public var ipv4Prefix: Int
    public var ipv6Prefix: Int
    /// 0: the invalid-proof cache is off.
    public var invalidProofCacheSeconds: Int
    /// Limiter tables (one per class per scope), each bounded by `maxKeys`.
    public var limiterTables: Int
    /// Paid requests one payer address may make (the paid limit, counted per payer once its signature is verified).
    public var perPayerPaid: RateFigure?
    public var checks: [LimitCheck]
    public var gaps: [LimitGap]
    public var recommendations: [LimitRecommendation]
    public var capacity: [FacilitatorCapacity]
    public var timing: [TimingBudget]
}

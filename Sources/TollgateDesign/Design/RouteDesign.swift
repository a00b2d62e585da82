/// One route as the configuration defines it, with the rate limits that apply to it.
public struct RouteDesign: Sendable, Hashable, Codable {
    public var resource: String
    /// An HTTP method, or `*` for any.
    public var method: String
    public var path: String
    public var description: String
    public var mimeType: String
    public var anonymous: Bool
    public var scope: String?
    /// Sorted by action.
    public var actionScopes: [ActionScopeDesign]
    public var privateFields: PrivateFieldsDesign?
    /// nil for a free route (passed through after identify and authorize).
    public var pricing: PricingDesign?
    /// The limits in force on this route (its own `limits:` or the global ones).
    public var limits: ClassLimitsDesign
    /// The x402 versions a paid route accepts (`[2, 1]`, or `[2]` with v1 off); empty for a free route.
    public var x402Versions: [Int] = []
    /// What the discovery manifest publishes about it; nil when it is not listed (free, opted out, or discovery off).
    public var discovery: DiscoveryDesign? = nil

    /// `anonymous`, `scope reports:read`, or `API key or JWT`.
    public var access: String {
        if let scope { return "scope \(scope)" }
        return anonymous ? "anonymous" : "identified"
    }
}

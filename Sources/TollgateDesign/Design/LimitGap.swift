/// A limit this configuration does not set, and what to set it to.
public struct LimitGap: Sendable, Hashable, Codable {
    /// `unpaid`, `paid`, `invalid`, `invalid_proof_cache` or `route_limits`.
    public var kind: String
    /// `global` or a route's resource.
    public var scope: String
    public var message: String
    /// The recommended limit, when the gap is a rate.
    public var recommended: RateFigure?
    /// How `recommended` is computed, in one line.
    public var formula: String?
}

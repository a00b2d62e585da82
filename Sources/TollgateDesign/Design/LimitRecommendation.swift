/// A recommended limit for one class in one scope, computed from what is configured.
public struct LimitRecommendation: Sendable, Hashable, Codable {
    /// `global` or a route's resource.
    public var scope: String
    /// `unpaid`, `paid` or `invalid`.
    public var trafficClass: String
    /// nil when the class is off.
    public var configured: RateFigure?
    public var recommended: RateFigure
    /// `ok` (configured meets it), `raise`, `lower`, or `set` (the class is off).
    public var status: String
    /// How `recommended` is computed, in one line.
    public var formula: String
}

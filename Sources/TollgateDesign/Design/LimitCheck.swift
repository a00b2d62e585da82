/// A relation the limits must satisfy, evaluated on this configuration's numbers.
public struct LimitCheck: Sendable, Hashable, Codable {
    /// `invalid_le_paid`, `paid_le_unpaid`, `slow_below_timeout`.
    public var id: String
    /// `global`, a route's resource, or a facilitator's URL.
    public var scope: String
    /// The relation (`invalid ≤ paid`).
    public var rule: String
    /// The relation with this configuration's numbers.
    public var values: String
    public var holds: Bool
    public var why: String
}

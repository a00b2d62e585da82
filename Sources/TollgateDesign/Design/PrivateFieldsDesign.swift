/// JSON fields removed from a route's answers unless the client holds `scope` (a post-payment permission).
public struct PrivateFieldsDesign: Sendable, Hashable, Codable {
    public var scope: String
    /// Sorted.
    public var fields: [String]
}

/// A configured API client (never its key or hash).
public struct ClientDesign: Sendable, Hashable, Codable {
    public var id: String
    /// Sorted.
    public var scopes: [String]
    public var organisation: String?
}

/// What `/.well-known/x402` and a route's 402s publish about a paid route: always its method, terms and price; the
/// schemas and examples its `discovery:` configures.
public struct DiscoveryDesign: Sendable, Hashable, Codable {
    /// The method a 402's bazaar extension names (`*` when the route takes any: the request's is named).
    public var method: String
    /// What is published beyond the terms, in a fixed order: `query schema`, `query example`, `body schema`,
    /// `body example`, `output schema`, `output example`.
    public var published: [String]

    /// `query schema, output example`, or `terms only`.
    public var text: String { published.isEmpty ? "terms only" : published.joined(separator: ", ") }
}

/// One configured facilitator (header values are never reported: they may hold tokens).
public struct FacilitatorDesign: Sendable, Hashable, Codable {
    public var url: String
    public var timeoutSeconds: Int
    /// The networks it is configured for; empty: whatever its `/supported` lists.
    public var networks: [String]
    public var breaker: BreakerDesign
    /// Whether it runs on this machine (a development facilitator, typically).
    public var loopback: Bool
    /// Endpoints given extra headers (`all`, `supported`, `verify`, `settle`), sorted; values omitted.
    public var headerEndpoints: [String]
}

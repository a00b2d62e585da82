/// One payment network some paid route accepts: its assets, routes, and the facilitators tried for it, in order.
public struct NetworkDesign: Sendable, Hashable, Codable {
    /// CAIP-2 id.
    public var network: String
    /// A known test network (no real money).
    public var testnet: Bool
    /// Asset ids on it that routes accept, sorted.
    public var assets: [String]
    /// Resources of the paid routes accepting it, in route order.
    public var routes: [String]
    /// Facilitators serving it, in the order they are tried (configuration order).
    public var facilitators: [FacilitatorDesign]
    /// More than one facilitator: a transport failure moves on to the next.
    public var failover: Bool
}

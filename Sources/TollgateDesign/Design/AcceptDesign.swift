/// One way to pay a route: an asset on a network, the amount (the configured price) and the payee.
public struct AcceptDesign: Sendable, Hashable, Codable {
    public var asset: String
    public var network: String
    /// The price as a decimal of the asset (`0.01`).
    public var amount: String
    /// The same in atomic units (`10000`).
    public var atomic: String
    public var payTo: String
}

/// The admin listener: revocations, incident switches, refunds over HTTP.
public struct AdminDesign: Sendable, Hashable, Codable {
    public var listen: String
    public var loopback: Bool
    public var allowRemote: Bool
    /// `env NAME` or `file PATH` (never the token).
    public var token: String
}

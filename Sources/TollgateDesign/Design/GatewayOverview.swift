/// The gateway as a whole: where it listens, how clients reach it, what it protects.
public struct GatewayOverview: Sendable, Hashable, Codable {
    public var listen: String
    public var publicURL: String
    /// Whether `publicURL` is https.
    public var publicURLUsesTLS: Bool
    public var upstreamURL: String
    public var upstreamTimeoutSeconds: Int
    public var maxUpstreamResponseBytes: Int
    public var maxRequestBodyBytes: Int
    /// `deny` (404 `no_route`) or `pass` (forwarded free and anonymous).
    public var unmatched: String
    public var retryAfterSeconds: Int
    /// Ids of the HMAC keys, signing key first (never the secrets).
    public var secretIds: [String]
    public var routeCount: Int
    public var paidRouteCount: Int
    /// For an MCP gateway (`mcp:`), its endpoint (`http://127.0.0.1:8405/mcp`); nil for the reverse proxy.
    public var mcpEndpoint: String? = nil
    /// The discovery manifest's URL (`<public_url>/.well-known/x402`); nil when nothing is published.
    public var manifestURL: String? = nil

    /// Where a client carries its proof: the x402 header, or the MCP transport's `_meta` key.
    public var proofCarrier: String { mcpEndpoint == nil ? "PAYMENT-SIGNATURE" : #"_meta["x402/payment"]"# }
    /// Where the settlement receipt comes back.
    public var receiptCarrier: String { mcpEndpoint == nil ? "PAYMENT-RESPONSE" : #"_meta["x402/payment-response"]"# }
}

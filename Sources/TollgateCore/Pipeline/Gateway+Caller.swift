import HTTPTypes

extension Gateway {
    /// Who a request comes from, as one string: what the MCP door binds session ids to and shares its pass-through
    /// places by. An API-key client or a JWT subject is `client:<id>` (JWT ids are `jwt:<sub>@<issuer>`, so the two never
    /// meet), identified exactly as the journey identifies a paid call; anyone else, credentials missing or refused, is
    /// `ip:<prefix>`, the address the gateway sees (the peer, or the hop a trusted proxy named) reduced as `limits`
    /// counts anonymous callers (`limits.ipv4_prefix`, `ipv6_prefix`). Callers sharing that prefix are one caller, and
    /// an anonymous caller whose address moves out of it is another one.
    public func callerKey(_ fields: HTTPFields, remoteAddress: String?) async -> String {
        if case .identified(.client(let client)) = await identify(fields) { return "client:" + client.id }
        return "ip:" + settings.limits.ipPrefix(remoteAddress)
    }
}

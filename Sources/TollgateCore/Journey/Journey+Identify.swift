import HTTPTypes

/// Stage `identify`: who is calling. An unknown key, a bad token or a revoked client is a 401, never a 402.
extension Journey {
    mutating func identified(_ outcome: ClientDirectory.Outcome, clientRevoked: Bool, incident: String?, route: Route) -> Action {
        let identity: Identity
        switch outcome {
        case .denied(let reason):
            // Support can match a key a customer quotes by its first characters; the rest never leaves memory.
            let prefix = ClientDirectory.presentedKey(in: request.headerFields).map { String($0.prefix(4)) + "…" } ?? ""
            return deny(.unauthorized, "unauthorized", .identify, reason,
                        detail: reason == .unknownAPIKey ? "the API key is not known" : "the bearer token is not valid here",
                        extra: ["key_prefix": prefix])
        case .identified(let found):
            identity = found
        }
        flow.clientId = identity.clientId
        if case .client = identity, clientRevoked {
            return deny(.unauthorized, "unauthorized", .identify, .clientRevoked, detail: "this API key has been revoked")
        }
        return authorize(route, identity: identity, incident: incident)
    }
}

/// How callers are identified (question 2).
public enum InitIdentity: String, Sendable, Hashable, CaseIterable {
    /// x402 payers without an account: the payment is the only credential.
    case anonymous
    /// API keys (`X-Api-Key`), for scripts and integrations; only their SHA-256 is stored.
    case apiKeys = "api_keys"
    /// Bearer JWTs from the operator's identity provider, for humans.
    case jwt

    static let aliases = ["api-keys": "api_keys", "apikeys": "api_keys", "keys": "api_keys", "api_key": "api_keys", "key": "api_keys",
                          "anon": "anonymous", "x402": "anonymous", "payers": "anonymous", "tokens": "jwt", "oidc": "jwt"]

    /// The identities question 2 suggests for these callers.
    static func suggested(for callers: [InitCaller]) -> [InitIdentity] {
        var result: [InitIdentity] = []
        if callers.contains(.agent) { result.append(.anonymous) }
        if callers.contains(.script) || callers.contains(.integration) { result.append(.apiKeys) }
        if callers.contains(.human) { result.append(.jwt) }
        return result
    }
}

/// Identifies callers by a signed bearer token (a JWT): the adapter checks signature, issuer,
/// audience and expiry and maps the claims to a client.
public protocol TokenVerifier: Sendable {
    /// Whether `token` is one this verifier handles (a JWT has three dot-separated parts); other
    /// bearer values are treated as API keys.
    func handles(_ token: Substring) -> Bool

    /// The client the token names, or the reason it is refused.
    func identify(_ token: Substring) async -> ClientDirectory.Outcome
}

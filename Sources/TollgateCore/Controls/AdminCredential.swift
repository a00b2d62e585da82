import Crypto

/// The admin API's shared token, kept as its SHA-256.
///
/// Both sides are hashed before the constant-time comparison, so neither the position of the first
/// differing byte nor the token's length shows in the time a refusal takes.
public struct AdminCredential: Sendable {
    private let digest: [UInt8]?

    /// An empty token accepts nothing (fail closed).
    public init(token: [UInt8]) {
        digest = token.isEmpty ? nil : Array(SHA256.hash(data: token))
    }

    /// Whether `presented` (the text after `Bearer `) is the token.
    public func accepts(_ presented: some StringProtocol) -> Bool {
        let candidate = Array(SHA256.hash(data: Array(presented.utf8)))
        guard let digest else { return false }
        return ConstantTime.equal(digest, candidate)
    }
}

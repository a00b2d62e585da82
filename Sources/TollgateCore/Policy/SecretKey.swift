import Crypto

/// A named HMAC key. The id travels with what it signs so keys can be rotated.
public struct SecretKey: Sendable {
    public let id: String
    let key: SymmetricKey
    /// HMAC with the key already mixed in: each MAC then hashes the message only (a 402 signs an offer and
    /// chains audit events; setting the key up took a visible share of that).
    private let keyed: HMAC<SHA256>

    /// Returns nil for fewer than 16 bytes of secret or an id that is empty or contains a dot.
    public init?(id: String, secret: [UInt8]) {
        guard secret.count >= 16, !id.isEmpty, !id.contains("."), !id.contains(" ") else { return nil }
        self.id = id
        self.key = SymmetricKey(data: secret)
        self.keyed = HMAC<SHA256>(key: key)
    }

    func mac(_ message: some Sequence<UInt8>) -> [UInt8] {
        var hmac = keyed
        hmac.update(data: Array(message))
        return Array(hmac.finalize())
    }
}

/// The set of keys in use: the first signs, all verify.
public struct KeyRing: Sendable {
    public let keys: [SecretKey]

    /// Returns nil for an empty ring.
    public init?(_ keys: [SecretKey]) {
        guard !keys.isEmpty else { return nil }
        self.keys = keys
    }

    public var current: SecretKey { keys[0] }

    public func key(id: Substring) -> SecretKey? { keys.first { $0.id == id } }
}

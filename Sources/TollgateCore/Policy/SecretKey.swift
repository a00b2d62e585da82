import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// A named HMAC-SHA256 key. The id travels with what it signs so keys can be rotated.
public struct SecretKey: Sendable {
    public let id: String
    /// SHA-256 with the key's inner and outer pads already hashed (RFC 2104): each MAC then hashes only the message
    /// and one digest. Written on `SHA256` itself rather than swift-crypto's `HMAC<SHA256>`, whose generic calls cost
    /// more than the hashing (a 402 signs an offer and chains its audit event; a paid request MACs several times).
    private let inner: SHA256
    private let outer: SHA256

    /// A key id names its key in every offer token (`<key id>.<claims>.<MAC>`) and audit hash: printable ASCII, no dot
    /// (the token's separator) and no space. Checked on bytes: a dot followed by a combining mark is one `Character`, so
    /// `contains(".")` would not see it, and the token is split on bytes.
    public static func isValidId(_ id: String) -> Bool {
        !id.utf8.isEmpty && id.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ".") }
    }

    /// Returns nil for fewer than 16 bytes of secret or an id that is not `isValidId`.
    public init?(id: String, secret: [UInt8]) {
        guard secret.count >= 16, Self.isValidId(id) else { return nil }
        self.id = id
        let blockSize = 64
        var block = secret.count > blockSize ? Array(SHA256.hash(data: secret)) : secret
        block += repeatElement(0, count: blockSize - block.count)
        var pad = block.map { $0 ^ 0x36 }
        var inner = SHA256()
        inner.update(data: pad)
        for index in pad.indices { pad[index] = block[index] ^ 0x5C }
        var outer = SHA256()
        outer.update(data: pad)
        self.inner = inner
        self.outer = outer
        // The key's copies made here do not outlive it (best effort: the hash states still hold what they absorbed).
        Self.zero(&block)
        Self.zero(&pad)
    }

    private static func zero(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            // `explicit_bzero`: a plain `memset` of memory freed right after may be dropped by the optimiser.
            #if canImport(Glibc)
            explicit_bzero(base, buffer.count)
            #else
            _ = memset_s(base, buffer.count, 0, buffer.count)
            #endif
        }
    }

    func mac(_ message: [UInt8]) -> [UInt8] {
        var inner = self.inner
        message.withUnsafeBytes { inner.update(bufferPointer: $0) }
        var outer = self.outer
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize().withUnsafeBytes { Array($0) }
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

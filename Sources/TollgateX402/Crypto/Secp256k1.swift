import CSecp256k1

/// An Ethereum ECDSA signature with recovery id, in the 65-byte r‖s‖v wire form.
public struct RecoverableSignature: Sendable, Hashable {
    public let r: [UInt8]
    public let s: [UInt8]
    /// 27 or 28; the pre-EIP-155 form that EIP-712 signers (and EIP-3009 contracts) use.
    public let v: UInt8

    /// Splits 65 bytes r‖s‖v; nil unless v is 27 or 28 (0/1 is not accepted, matching the
    /// token contracts' `ecrecover` which would reject it on chain).
    public init?(bytes: [UInt8]) {
        guard bytes.count == 65 else { return nil }
        self.init(r: Array(bytes[0..<32]), s: Array(bytes[32..<64]), v: bytes[64])
    }

    /// nil unless r and s are 32 bytes each and v is 27 or 28.
    public init?(r: [UInt8], s: [UInt8], v: UInt8) {
        guard r.count == 32, s.count == 32, v == 27 || v == 28 else { return nil }
        self.r = r
        self.s = s
        self.v = v
    }

    /// r‖s‖v, 65 bytes.
    public var bytes: [UInt8] { r + s + [v] }

    /// Whether s ≤ n/2. High-s twins are malleated copies of a valid signature (EIP-2), so they
    /// are refused rather than allowed to look like a second, distinct authorization.
    public var isLowS: Bool {
        // Big-endian comparison; the first differing byte decides.
        for (byte, limit) in zip(s, halfOrder) where byte != limit {
            return byte < limit
        }
        return true
    }
}

/// ⌊n/2⌋ for the secp256k1 group order n, big-endian.
private let halfOrder: [UInt8] = [
    0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0,
]

/// One context for the whole process. libsecp256k1 only reads it after creation, so concurrent
/// use is safe; randomizing it once blinds signing against timing side channels.
nonisolated(unsafe) private let context: OpaquePointer = {
    // Creation only fails when allocation fails; there is no meaningful way to continue.
    guard let context = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE)) else {
        fatalError("secp256k1_context_create failed")
    }
    var seed = randomBytes32()
    _ = secp256k1_context_randomize(context, &seed)
    return context
}()

/// ECDSA over secp256k1 with Ethereum's address derivation.
public enum Secp256k1 {
    /// The address that signed `digest` (32 bytes); nil for a high-s signature, an invalid
    /// signature, or a digest that is not 32 bytes.
    public static func recoverAddress(digest: [UInt8], signature: RecoverableSignature) -> EthereumAddress? {
        guard digest.count == 32, signature.isLowS else { return nil }
        var recoverable = secp256k1_ecdsa_recoverable_signature()
        let compact = signature.r + signature.s
        guard secp256k1_ecdsa_recoverable_signature_parse_compact(
            context, &recoverable, compact, Int32(signature.v) - 27) == 1
        else { return nil }
        var publicKey = secp256k1_pubkey()
        guard secp256k1_ecdsa_recover(context, &publicKey, &recoverable, digest) == 1 else { return nil }
        return address(of: publicKey)
    }

    /// Signs a 32-byte digest with RFC 6979 deterministic nonces; the result is low-s with
    /// v = 27 + recovery id. nil for an invalid key or a digest that is not 32 bytes.
    public static func sign(digest: [UInt8], privateKey: [UInt8]) -> RecoverableSignature? {
        guard digest.count == 32, privateKey.count == 32 else { return nil }
        var recoverable = secp256k1_ecdsa_recoverable_signature()
        // A nil nonce function selects the library's RFC 6979 default.
        guard secp256k1_ecdsa_sign_recoverable(context, &recoverable, digest, privateKey, nil, nil) == 1
        else { return nil }
        var compact = [UInt8](repeating: 0, count: 64)
        var recoveryId: Int32 = 0
        guard secp256k1_ecdsa_recoverable_signature_serialize_compact(context, &compact, &recoveryId, &recoverable) == 1
        else { return nil }
        return RecoverableSignature(
            r: Array(compact[0..<32]), s: Array(compact[32..<64]), v: UInt8(truncatingIfNeeded: 27 + recoveryId))
    }

    /// The address of a 32-byte private key; nil if the key is not in [1, n-1].
    public static func address(privateKey: [UInt8]) -> EthereumAddress? {
        guard privateKey.count == 32 else { return nil }
        var publicKey = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_create(context, &publicKey, privateKey) == 1 else { return nil }
        return address(of: publicKey)
    }

    /// 32 bytes from `SystemRandomNumberGenerator` that form a valid private key.
    public static func randomPrivateKey() -> [UInt8] {
        while true {
            // Out-of-range draws have probability ~2^-128, so this loop is effectively single-pass.
            let candidate = randomBytes32()
            if secp256k1_ec_seckey_verify(context, candidate) == 1 { return candidate }
        }
    }

    /// keccak of the 64-byte uncompressed point (without the 0x04 tag), last 20 bytes.
    private static func address(of publicKey: secp256k1_pubkey) -> EthereumAddress? {
        var publicKey = publicKey
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 65) { buffer -> EthereumAddress? in
            guard let base = buffer.baseAddress else { return nil }
            var length = 65
            guard secp256k1_ec_pubkey_serialize(
                context, base, &length, &publicKey, UInt32(SECP256K1_EC_UNCOMPRESSED)) == 1, length == 65
            else { return nil }
            let hash = Keccak256.hash(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[1..<65]))
            return EthereumAddress(bytes: Array(hash[12..<32]))
        }
    }
}

private func randomBytes32() -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var bytes: [UInt8] = []
    bytes.reserveCapacity(32)
    for _ in 0..<4 {
        let word = generator.next()
        for shift in stride(from: 0, to: 64, by: 8) {
            bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
        }
    }
    return bytes
}

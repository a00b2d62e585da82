import Synchronization

/// Signers recovered lately, by (digest, signature): a facilitator is asked to verify a payment and then to settle the
/// same one, and secp256k1 recovery is the costliest step of both. Recovery is a pure function, so a remembered signer
/// is the signer; the memo only saves the work. Bounded: when full it starts again empty.
public final class RecoveryMemo: Sendable {
    public static let defaultCapacity = 4096
    private let capacity: Int
    private let memo = Mutex<[[UInt8]: EthereumAddress?]>([:])

    public init(capacity: Int = RecoveryMemo.defaultCapacity) {
        self.capacity = capacity
    }

    /// How many signers are remembered now (at most the capacity).
    var count: Int { memo.withLock { $0.count } }

    /// The address that signed `digest`, recovered once per (digest, signature) while remembered.
    public func recoverAddress(digest: [UInt8], signature: RecoverableSignature) -> EthereumAddress? {
        let key = digest + signature.r + signature.s + [signature.v]
        if let known = memo.withLock({ $0[key] }) { return known }
        let signer = Secp256k1.recoverAddress(digest: digest, signature: signature)
        memo.withLock {
            if $0.count >= capacity { $0.removeAll(keepingCapacity: true) }
            $0[key] = .some(signer)
        }
        return signer
    }
}

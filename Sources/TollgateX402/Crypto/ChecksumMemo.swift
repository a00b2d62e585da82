import Synchronization

/// EIP-55 spellings of the addresses a rail writes into every 402 (configured assets and payees, so few), each
/// computed once: a checksum is a keccak-256, and two per 402 were a visible share of its CPU.
final class ChecksumMemo: Sendable {
    /// Beyond this many distinct addresses the spelling is computed each time (memory stays bounded).
    static let capacity = 1024
    private let memo = Mutex<[String: String?]>([:])

    /// The checksummed spelling, or nil when `address` is not an address.
    func checksummed(_ address: String) -> String? {
        if let known = memo.withLock({ $0[address] }) { return known }
        let spelled = EthereumAddress(address)?.checksummed
        memo.withLock { if $0.count < Self.capacity { $0[address] = .some(spelled) } }
        return spelled
    }
}

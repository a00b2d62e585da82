import TollgateCore
/// A 20-byte Ethereum account address.
///
/// Equality and hashing use the bytes, so differently cased spellings of one address are equal.
public struct EthereumAddress: Sendable, Hashable, CustomStringConvertible {
    /// The 20 address bytes.
    public let bytes: [UInt8]

    /// Parses "0x" followed by exactly 40 hex digits in any case. The EIP-55 checksum is not
    /// enforced because wallets and payment payloads legitimately send all-lowercase addresses.
    public init?(_ hex: some StringProtocol) {
        guard hex.utf8.count == 42, hex.hasPrefix("0x"), let bytes = HexString.decodeAllowingPrefix(hex) else { return nil }
        self.bytes = bytes
    }

    /// Wraps raw bytes; nil unless there are exactly 20.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 20 else { return nil }
        self.bytes = bytes
    }

    /// The EIP-55 mixed-case checksum spelling, e.g. "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".
    public var checksummed: String {
        let lower = Array(HexString.encode(bytes).utf8)
        let hash = Keccak256.hash(lower)
        var utf8: [UInt8] = [0x30, 0x78]
        utf8.reserveCapacity(42)
        for (index, character) in lower.enumerated() {
            // A letter is uppercased when the matching nibble of keccak(lowercase hex) is >= 8.
            let nibble = index % 2 == 0 ? hash[index / 2] >> 4 : hash[index / 2] & 0x0F
            utf8.append(character >= 0x61 && nibble >= 8 ? character - 0x20 : character)
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    /// "0x" followed by 40 lowercase hex digits.
    public var lowercased: String { HexString.prefixed(bytes) }

    /// The EIP-55 checksum spelling.
    public var description: String { checksummed }
}

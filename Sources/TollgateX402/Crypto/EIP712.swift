/// The EIP-712 domain of a token contract (the `EIP712Domain` struct with name, version,
/// chainId and verifyingContract, which is the shape USDC and EIP-3009 tokens use).
public struct EIP712Domain: Sendable, Hashable {
    public var name: String
    public var version: String
    public var chainId: UInt64
    public var verifyingContract: EthereumAddress

    public init(name: String, version: String, chainId: UInt64, verifyingContract: EthereumAddress) {
        self.name = name
        self.version = version
        self.chainId = chainId
        self.verifyingContract = verifyingContract
    }

    /// hashStruct(EIP712Domain): keccak(typehash ‖ keccak(name) ‖ keccak(version) ‖ chainId ‖ verifyingContract).
    public var separator: [UInt8] {
        var encoded = domainTypeHash
        encoded.reserveCapacity(5 * 32)
        encoded += Keccak256.hash(name.utf8)
        encoded += Keccak256.hash(version.utf8)
        encoded += UInt256Word.fromUInt64(chainId)
        encoded += addressWord(verifyingContract)
        return Keccak256.hash(encoded)
    }
}

/// The EIP-3009 `TransferWithAuthorization` message that an x402 `exact` EVM payment signs.
public struct TransferWithAuthorization: Sendable, Hashable {
    public var from: EthereumAddress
    public var to: EthereumAddress
    /// uint256 as a decimal string, the form x402 payloads carry.
    public var value: String
    /// uint256 unix seconds as a decimal string.
    public var validAfter: String
    /// uint256 unix seconds as a decimal string.
    public var validBefore: String
    /// bytes32 chosen by the payer.
    public var nonce: [UInt8]

    public init(
        from: EthereumAddress, to: EthereumAddress, value: String,
        validAfter: String, validBefore: String, nonce: [UInt8]
    ) {
        self.from = from
        self.to = to
        self.value = value
        self.validAfter = validAfter
        self.validBefore = validBefore
        self.nonce = nonce
    }

    /// hashStruct(TransferWithAuthorization); nil if a decimal field is not a valid uint256
    /// or the nonce is not 32 bytes.
    public func structHash() -> [UInt8]? {
        guard nonce.count == 32,
            let value = UInt256Word.fromDecimal(value),
            let validAfter = UInt256Word.fromDecimal(validAfter),
            let validBefore = UInt256Word.fromDecimal(validBefore)
        else { return nil }
        var encoded = transferTypeHash
        encoded.reserveCapacity(7 * 32)
        encoded += addressWord(from)
        encoded += addressWord(to)
        encoded += value
        encoded += validAfter
        encoded += validBefore
        encoded += nonce
        return Keccak256.hash(encoded)
    }

    /// The EIP-712 signing digest keccak(0x19 0x01 ‖ domainSeparator ‖ structHash); nil when
    /// `structHash()` is.
    public func digest(domain: EIP712Domain) -> [UInt8]? {
        guard let structHash = structHash() else { return nil }
        var encoded: [UInt8] = [0x19, 0x01]
        encoded.reserveCapacity(66)
        encoded += domain.separator
        encoded += structHash
        return Keccak256.hash(encoded)
    }
}

private let domainTypeHash = Keccak256.hash(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)".utf8)

private let transferTypeHash = Keccak256.hash(
    "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
        .utf8)

/// ABI encoding of an address: left-padded to 32 bytes.
private func addressWord(_ address: EthereumAddress) -> [UInt8] {
    [UInt8](repeating: 0, count: 12) + address.bytes
}

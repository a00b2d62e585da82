import TollgateCore

/// Signs x402 `exact` EVM payments (EIP-3009 `TransferWithAuthorization`) with a local key: the
/// paying client (`TollgateClient`), `tollgate demo` and the load generator of `tollgate bench`. Printing or dumping
/// one shows its address, never the key.
public struct ExactEVMPayer: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    let privateKey: [UInt8]
    public let address: EthereumAddress

    public init?(privateKey: [UInt8]) {
        guard let address = Secp256k1.address(privateKey: privateKey) else { return nil }
        self.privateKey = privateKey
        self.address = address
    }

    public var description: String { "ExactEVMPayer(\(address.checksummed))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["address": address.checksummed]) }

    /// Pays the first `exact` EVM offer of `required`, echoing it whole (including unknown `extra` keys).
    public func pay(_ required: X402.PaymentRequired, now: Int64) throws(Failure) -> X402.PaymentPayload {
        guard let offer = required.accepts.first(where: { $0.scheme == "exact" && $0.network.hasPrefix("eip155:") }) else {
            throw Failure(description: "no exact EVM offer in the terms")
        }
        return try pay(offer, resource: required.resource, now: now)
    }

    public func pay(_ offer: X402.PaymentRequirements, resource: X402.ResourceInfo?, now: Int64, nonce: [UInt8]? = nil,
                    validAfter: Int64? = nil, validBefore: Int64? = nil) throws(Failure) -> X402.PaymentPayload {
        guard let chainId = ExactEVMVerifier.chainId(offer.network), let asset = EthereumAddress(offer.asset),
              let payTo = EthereumAddress(offer.payTo),
              let name = offer.extra?["name"]?.string, let version = offer.extra?["version"]?.string
        else {
            throw Failure(description: "the offer lacks a network, asset, payee or EIP-712 domain")
        }
        // An authorization is never signed for longer than a day, whatever the offer says (a number near Int.max would
        // also overflow the sum below).
        guard validBefore != nil || (1...86_400).contains(offer.maxTimeoutSeconds) else {
            throw Failure(description: "the offer's maxTimeoutSeconds \(offer.maxTimeoutSeconds) is outside 1…86400")
        }
        var generator = SystemRandomNumberGenerator()
        let nonce = nonce ?? (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let authorization = TransferWithAuthorization(
            from: address, to: payTo, value: offer.amount, validAfter: String(validAfter ?? 0),
            validBefore: String(validBefore ?? now + Int64(offer.maxTimeoutSeconds)), nonce: nonce)
        let domain = EIP712Domain(name: name, version: version, chainId: chainId, verifyingContract: asset)
        guard let digest = authorization.digest(domain: domain), let signature = Secp256k1.sign(digest: digest, privateKey: privateKey) else {
            throw Failure(description: "the authorization could not be signed")
        }
        return X402.PaymentPayload(
            resource: resource, accepted: offer,
            payload: .init(signature: HexString.prefixed(signature.bytes),
                           authorization: .init(from: address.checksummed, to: payTo.checksummed, value: authorization.value,
                                                validAfter: authorization.validAfter, validBefore: authorization.validBefore,
                                                nonce: HexString.prefixed(nonce))))
    }
}

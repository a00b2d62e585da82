import TollgateCore

/// The `exact` EVM checks that need no chain (the x402 exact EVM scheme). The gateway runs them before
/// any store write or facilitator call; the development facilitator runs the same code.
public enum ExactEVMVerifier {
    /// What the authorization must match.
    public struct Expected: Sendable, Hashable {
        public var network: String
        public var payTo: String
        public var amount: TokenAmount
        /// The token's EIP-712 domain: from configuration in the gateway, never from the client.
        public var domain: EIP712Domain

        public init(network: String, payTo: String, amount: TokenAmount, domain: EIP712Domain) {
            self.network = network
            self.payTo = payTo
            self.amount = amount
            self.domain = domain
        }
    }

    /// The chain id of a CAIP-2 `eip155:<id>` network.
    public static func chainId(_ network: String) -> UInt64? {
        guard network.hasPrefix("eip155:") else { return nil }
        return UInt64(network.dropFirst(7))
    }

    /// What a signature is, by its shape.
    public enum SignatureKind: Sendable, Hashable {
        /// 65 bytes (r, s, v): recovered locally, and it must recover to `from`.
        case externallyOwned
        /// ERC-6492: a smart wallet not deployed yet (`abi.encode(factory, calldata, signature)` and the magic suffix).
        case erc6492
        /// Any other length: possibly an EIP-1271 contract wallet's signature.
        case contract
        case malformed
    }

    /// The 32-byte suffix that marks an ERC-6492 signature.
    public static let erc6492Magic = HexString.decodeAllowingPrefix("6492649264926492649264926492649264926492649264926492649264926492")!

    public static func signatureKind(_ signature: String) -> SignatureKind {
        guard let bytes = HexString.decodeAllowingPrefix(signature), !bytes.isEmpty else { return .malformed }
        if bytes.count == 65 { return .externallyOwned }
        if bytes.count > 65 + erc6492Magic.count, bytes.suffix(erc6492Magic.count).elementsEqual(erc6492Magic) { return .erc6492 }
        return .contract
    }

    /// - Parameter deferSignatures: which signatures that cannot be checked without a chain are let through every
    ///   other check, for the facilitator to verify (an ERC-6492 wrapper; a contract wallet's signature only where
    ///   the gateway can read the chain). A 65-byte signature is always checked here.
    /// - Parameter memo: remembers recovered signers (a facilitator verifying, then settling, one payment); nil
    ///   recovers each time.
    public static func verify(scheme: String, network: String, authorization: X402.Authorization, signature: String,
                              expected: Expected, now: Int64, deferSignatures: Set<SignatureKind> = [],
                              memo: RecoveryMemo? = nil) -> Verdict {
        guard scheme == "exact" else { return .invalid(.invalidScheme, detail: "only the exact scheme is accepted") }
        guard network == expected.network, chainId(network) == expected.domain.chainId else {
            return .invalid(.invalidNetwork, detail: "the network is not the offer's EVM network")
        }
        guard let from = EthereumAddress(authorization.from), let to = EthereumAddress(authorization.to) else {
            return .invalid(.invalidPayload, detail: "authorization.from or authorization.to is not an address")
        }
        guard to.lowercased == expected.payTo.lowercased() else {
            return .invalid(.recipientMismatch, detail: "authorization.to is not the payee of the offer")
        }
        guard TokenAmount(atomic: authorization.value) == expected.amount else {
            return .invalid(.valueMismatch, detail: "authorization.value is not the offered amount")
        }
        guard let validAfter = Int64(authorization.validAfter), let validBefore = Int64(authorization.validBefore) else {
            return .invalid(.invalidPayload, detail: "validAfter or validBefore is not a time in seconds")
        }
        guard validAfter <= now else {
            return .invalid(.validAfter, detail: "the authorization is not valid yet")
        }
        guard validBefore >= now + ExactEVMRail.validBeforeMarginSeconds else {
            return .invalid(.validBefore, detail: "the authorization expires too soon or has expired")
        }
        guard let nonce = HexString.decodeAllowingPrefix(authorization.nonce), nonce.count == 32 else {
            return .invalid(.invalidPayload, detail: "the nonce is not 32 bytes of hex")
        }
        let kind = signatureKind(signature)
        if kind != .externallyOwned {
            guard deferSignatures.contains(kind) else {
                return .invalid(.signatureInvalid, detail: kind == .erc6492 || kind == .contract
                    ? "a smart-wallet signature cannot be verified here" : "the signature is not hex")
            }
            // Not checkable without the chain: everything else held, the facilitator verifies the signature.
            return .signatureDeferred(payer: from.checksummed)
        }
        let message = TransferWithAuthorization(from: from, to: to, value: authorization.value, validAfter: authorization.validAfter,
                                                validBefore: authorization.validBefore, nonce: nonce)
        guard let digest = message.digest(domain: expected.domain),
              let bytes = HexString.decodeAllowingPrefix(signature), let recoverable = RecoverableSignature(bytes: bytes),
              let signer = memo.map({ $0.recoverAddress(digest: digest, signature: recoverable) })
                  ?? Secp256k1.recoverAddress(digest: digest, signature: recoverable),
              signer == from
        else {
            return .invalid(.signatureInvalid, detail: "the signature does not recover to authorization.from")
        }
        return .valid(payer: from.checksummed)
    }
}

extension ExactEVMRail {
    func verifyLocally(_ proof: PaymentProof, offer: Offer, now: Int64, assets: [AssetKey: Asset]) -> Verdict {
        guard let asset = assets[.init(network: offer.network, address: offer.asset)], let contract = EthereumAddress(asset.address),
              let chainId = ExactEVMVerifier.chainId(offer.network)
        else {
            return .invalid(.invalidNetwork, detail: "the asset is not configured")
        }
        let expected = ExactEVMVerifier.Expected(
            network: offer.network, payTo: offer.payTo, amount: offer.amount,
            domain: EIP712Domain(name: asset.eip712Name, version: asset.eip712Version, chainId: chainId, verifyingContract: contract))
        let authorization = X402.Authorization(from: proof.payer, to: proof.payee, value: proof.amount, validAfter: proof.validAfter,
                                               validBefore: proof.validBefore, nonce: proof.nonce)
        // ERC-6492 wrappers are the facilitator's to verify; EIP-1271 contract wallets too, but only where the chain
        // can be read to see a contract at `from` (`verify` checks it before asking the facilitator).
        var deferred: Set<ExactEVMVerifier.SignatureKind> = [.erc6492]
        if chains[offer.network] != nil { deferred.insert(.contract) }
        return ExactEVMVerifier.verify(scheme: proof.accepted.scheme, network: proof.network, authorization: authorization,
                                       signature: proof.signature, expected: expected, now: now, deferSignatures: deferred)
    }
}

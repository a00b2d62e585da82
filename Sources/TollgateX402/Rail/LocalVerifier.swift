import TollgateCore

/// The `exact` EVM checks that need no chain (WIRE.md §4, rules 1–8), run before any store write or
/// facilitator call. The asset's EIP-712 domain comes from configuration, never from the client.
struct LocalVerifier {
    let assets: [ExactEVMRail.AssetKey: Asset]

    func verify(_ proof: PaymentProof, offer: Offer, now: Int64) -> Verdict {
        guard proof.accepted.scheme == "exact" else { return .invalid(.invalidScheme, detail: "only the exact scheme is accepted") }
        guard proof.network == offer.network, let chainId = Self.chainId(proof.network) else {
            return .invalid(.invalidNetwork, detail: "the network is not the offer's EVM network")
        }
        guard let asset = assets[.init(network: offer.network, address: offer.asset)],
              let contract = EthereumAddress(asset.address) else {
            return .invalid(.invalidNetwork, detail: "the asset is not configured")
        }
        guard let from = EthereumAddress(proof.payer), let to = EthereumAddress(proof.payee) else {
            return .invalid(.invalidPayload, detail: "authorization.from or authorization.to is not an address")
        }
        guard to.lowercased == offer.payTo else {
            return .invalid(.recipientMismatch, detail: "authorization.to is not the payee of the offer")
        }
        guard TokenAmount(atomic: proof.amount) == offer.amount else {
            return .invalid(.valueMismatch, detail: "authorization.value is not the offered amount")
        }
        guard let validAfter = Int64(proof.validAfter), let validBefore = Int64(proof.validBefore) else {
            return .invalid(.invalidPayload, detail: "validAfter or validBefore is not a time in seconds")
        }
        guard validAfter <= now else {
            return .invalid(.validAfter, detail: "the authorization is not valid yet")
        }
        guard validBefore >= now + ExactEVMRail.validBeforeMarginSeconds else {
            return .invalid(.validBefore, detail: "the authorization expires too soon or has expired")
        }
        guard let nonce = Hex.decode(proof.nonce), nonce.count == 32 else {
            return .invalid(.invalidPayload, detail: "the nonce is not 32 bytes of hex")
        }
        let authorization = TransferWithAuthorization(from: from, to: to, value: proof.amount, validAfter: proof.validAfter,
                                                      validBefore: proof.validBefore, nonce: nonce)
        let domain = EIP712Domain(name: asset.eip712Name, version: asset.eip712Version, chainId: chainId, verifyingContract: contract)
        guard let digest = authorization.digest(domain: domain),
              let bytes = Hex.decode(proof.signature), let signature = RecoverableSignature(bytes: bytes),
              let signer = Secp256k1.recoverAddress(digest: digest, signature: signature),
              signer == from
        else {
            return .invalid(.signatureInvalid, detail: "the signature does not recover to authorization.from")
        }
        return .valid(payer: from.checksummed)
    }

    /// The chain id of a CAIP-2 `eip155:<id>` network.
    static func chainId(_ network: String) -> UInt64? {
        guard network.hasPrefix("eip155:") else { return nil }
        return UInt64(network.dropFirst(7))
    }
}

import Foundation
import HTTPTypes
import Logging
import TollgateCore

/// x402 v2, scheme `exact`, on EVM networks (EIP-3009 `transferWithAuthorization`). Translates between
/// the wire format and Tollgate's neutral `PaymentProof`; decides nothing about access.
public struct ExactEVMRail: PaymentRail {
    public let name = "x402-exact-evm"
    /// The facilitator's `validBefore` margin (WIRE.md §4, rule 7).
    public static let validBeforeMarginSeconds: Int64 = 6

    let assets: [AssetKey: Asset]
    let facilitators: FacilitatorPool

    struct AssetKey: Hashable {
        let network: String
        let address: String
        init(network: String, address: String) {
            self.network = network
            self.address = address.lowercased()
        }
    }

    public init(assets: [Asset], facilitators: FacilitatorPool) {
        self.assets = Dictionary(assets.map { (AssetKey(network: $0.network, address: $0.address), $0) }) { first, _ in first }
        self.facilitators = facilitators
    }

    // MARK: terms

    public func challengeFields(_ challenge: PaymentChallenge) -> HTTPFields {
        let required = X402.PaymentRequired(
            error: challenge.error,
            resource: .init(url: challenge.resourceURL, description: challenge.description, mimeType: challenge.mimeType),
            accepts: challenge.offers.map { requirements(for: $0) })
        var fields = HTTPFields()
        fields[HTTPField.Name(X402.paymentRequiredHeader)!] = HeaderCodec.encode(required)
        return fields
    }

    /// The requirements an offer stands for, with the signed offer in `extra` for the client to echo.
    func requirements(for signed: SignedOffer) -> X402.PaymentRequirements {
        let offer = signed.offer
        let asset = assets[AssetKey(network: offer.network, address: offer.asset)]
        var extra: [String: JSONValue] = [X402.offerExtraKey: .string(signed.token)]
        if let asset {
            extra["name"] = .string(asset.eip712Name)
            extra["version"] = .string(asset.eip712Version)
        }
        return X402.PaymentRequirements(
            scheme: "exact", network: offer.network,
            asset: asset.flatMap { EthereumAddress($0.address)?.checksummed } ?? offer.asset,
            amount: offer.amount.atomic,
            payTo: EthereumAddress(offer.payTo)?.checksummed ?? offer.payTo,
            maxTimeoutSeconds: offer.maxTimeoutSeconds, extra: extra)
    }

    // MARK: proofs

    /// Covers the legacy header too, so a flood of v1 proofs meets the same budget and cache.
    public func proofFingerprint(_ fields: HTTPFields) -> [UInt8]? {
        (fields[HTTPField.Name(X402.paymentSignatureHeader)!] ?? fields[HTTPField.Name(X402.legacyPaymentHeader)!])
            .map { NegativeCache.key(Array($0.utf8)) }
    }

    public func decode(_ fields: HTTPFields) -> ProofDecoding {
        guard let header = fields[HTTPField.Name(X402.paymentSignatureHeader)!] else {
            if fields[HTTPField.Name(X402.legacyPaymentHeader)!] != nil {
                return .malformed(.invalidVersion, detail: "X-PAYMENT (x402 v1) is not accepted; send PAYMENT-SIGNATURE (x402 v2)")
            }
            return .absent
        }
        guard header.utf8.count <= HeaderCodec.maxHeaderBytes else {
            return .malformed(.proofTooLarge, detail: "PAYMENT-SIGNATURE is larger than \(HeaderCodec.maxHeaderBytes) bytes")
        }
        guard let raw = HeaderCodec.base64Bytes(header) else {
            return .malformed(.invalidPayload, detail: "PAYMENT-SIGNATURE is not base64")
        }
        let decoder = JSONDecoder()
        guard let payload = try? decoder.decode(X402.PaymentPayload.self, from: Data(raw)), payload.x402Version == X402.version else {
            // Only on failure: say why, version first.
            if let version = try? decoder.decode(VersionProbe.self, from: Data(raw)), version.x402Version != X402.version {
                return .malformed(.invalidVersion, detail: "x402Version \(version.x402Version) is not supported; use 2")
            }
            return .malformed(.invalidPayload, detail: "PAYMENT-SIGNATURE is not an x402 v2 exact-EVM payment payload")
        }
        let authorization = payload.payload.authorization
        let accepted = payload.accepted
        var identifier: String?
        if let extensionValue = payload.extensions?[X402.paymentIdentifierExtension] {
            guard let id = extensionValue["info"]?["id"]?.string, X402.isValidPaymentIdentifier(id) else {
                return .malformed(.invalidPayload, detail: "extensions.payment-identifier.info.id must be 16 to 128 characters of A-Z a-z 0-9 _ -")
            }
            identifier = id
        }
        return .proof(PaymentProof(
            rail: name, network: accepted.network, asset: accepted.asset, payer: authorization.from, payee: authorization.to,
            amount: authorization.value, nonce: authorization.nonce, validAfter: authorization.validAfter,
            validBefore: authorization.validBefore, signature: payload.payload.signature,
            accepted: .init(scheme: accepted.scheme, network: accepted.network, asset: accepted.asset, amount: accepted.amount,
                            payTo: accepted.payTo, maxTimeoutSeconds: accepted.maxTimeoutSeconds,
                            offerToken: accepted.extra?[X402.offerExtraKey]?.string),
            raw: raw, paymentIdentifier: identifier))
    }

    private struct VersionProbe: Decodable {
        let x402Version: Int
    }

    // MARK: verification

    public func verifyLocally(_ proof: PaymentProof, offer: Offer, now: Int64) -> Verdict {
        verifyLocally(proof, offer: offer, now: now, assets: assets)
    }

    public func isReady(network: String) -> Bool { facilitators.isReady(network: network) }

    public func verify(_ proof: PaymentProof, offer: SignedOffer, logger: Logger) async throws -> Verdict {
        let request = facilitatorRequest(proof, offer: offer)
        let answer = try await withFailover(network: proof.network) { try await $0.verify(request, logger: logger) }
        guard answer.isValid else {
            return .invalid(Reason(answer.invalidReason ?? "invalid_payload"), detail: answer.invalidMessage ?? "refused by the facilitator")
        }
        // A facilitator vouching for someone other than the signer is not a verdict about this proof.
        if let payer = answer.payer, payer.lowercased() != proof.payer.lowercased() {
            return .invalid(.signatureInvalid, detail: "the facilitator named another payer")
        }
        return .valid(payer: proof.payer)
    }

    public func settle(_ proof: PaymentProof, offer: SignedOffer, logger: Logger) async throws -> Settlement {
        let request = facilitatorRequest(proof, offer: offer)
        let answer = try await withFailover(network: proof.network) { try await $0.settle(request, logger: logger) }
        let status: Settlement.Status = answer.success ? .settled : (answer.errorReason == "settlement_pending" ? .pending : .failed)
        return Settlement(status: status, transaction: answer.transaction, network: answer.network.isEmpty ? proof.network : answer.network,
                          payer: answer.payer ?? proof.payer, errorReason: answer.errorReason, errorMessage: answer.errorMessage)
    }

    public func receiptFields(_ settlement: Settlement, proof: PaymentProof) -> HTTPFields {
        let response = X402.SettleResponse(
            success: settlement.status == .settled, errorReason: settlement.errorReason, errorMessage: settlement.errorMessage,
            payer: settlement.payer, transaction: settlement.transaction, network: settlement.network)
        var fields = HTTPFields()
        fields[HTTPField.Name(X402.paymentResponseHeader)!] = HeaderCodec.encode(response)
        return fields
    }

    /// The proof exactly as received, with the requirements of the offer it answers (built from
    /// configuration, not from what the client echoed).
    func facilitatorRequest(_ proof: PaymentProof, offer: SignedOffer) -> X402.FacilitatorRequest {
        X402.FacilitatorRequest(rawPayload: proof.raw, requirements: requirements(for: offer))
    }

    /// Asks the ready facilitators in order; a transport failure moves on to the next one.
    private func withFailover<Answer>(network: String, _ call: (any Facilitator) async throws -> Answer) async throws -> Answer {
        var lastFailure = RailFailure(.notReady, "no facilitator is ready for \(network)", authority: "-")
        for facilitator in facilitators.candidates(for: network) {
            let started = ContinuousClock.now
            do {
                let answer = try await call(facilitator)
                facilitators.record(facilitator.name, failure: nil, latencyMillis: (ContinuousClock.now - started).inMilliseconds, now: ContinuousClock.seconds)
                return answer
            } catch let failure as RailFailure {
                facilitators.record(facilitator.name, failure: failure, latencyMillis: (ContinuousClock.now - started).inMilliseconds, now: ContinuousClock.seconds)
                lastFailure = failure
            }
        }
        throw lastFailure
    }
}

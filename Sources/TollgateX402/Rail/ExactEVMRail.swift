import Foundation
import HTTPTypes
import Logging
import TollgateCore

/// x402, scheme `exact`, on EVM networks (EIP-3009 `transferWithAuthorization`). Translates between
/// the wire format and Tollgate's neutral `PaymentProof`; decides nothing about access.
///
/// One rail per x402 version: v2 (`PAYMENT-SIGNATURE`, the signed offer echoed) and v1 (`X-PAYMENT`, terms in the 402's
/// body, no echo: `RailWire.echoesOffers` is false, so the journey binds the proof to its request). Both share the
/// assets, the facilitators and the checks (`ExactEVMRail+V1.swift` holds what differs).
public struct ExactEVMRail: PaymentRail {
    public static let v2Name = "x402-exact-evm"
    public static let v1Name = "x402-exact-evm-v1"
    /// The x402 version this rail speaks: 2, or 1.
    public let version: Int
    public var name: String { version == X402V1.version ? Self.v1Name : Self.v2Name }
    public var wire: RailWire { version == X402V1.version ? Self.wireV1 : Self.wire }
    /// A v2 rail beside a v1 rail leaves `X-PAYMENT` to it; alone, it refuses `X-PAYMENT` as an unsupported version.
    let leavesV1ToAnotherRail: Bool

    /// x402 v2 on the wire: the proof in `PAYMENT-SIGNATURE` (a v1 `X-PAYMENT` is stripped like the other, and refused
    /// unless a v1 rail reads it), terms in `PAYMENT-REQUIRED`, the receipt in `PAYMENT-RESPONSE`.
    public static let wire = RailWire(
        proofFields: [.x402PaymentSignature, .x402LegacyPayment],
        exposedFields: [.x402PaymentRequired, .x402PaymentResponse],
        proofFormat: "x402 v2 (scheme exact), header PAYMENT-SIGNATURE",
        paymentHint: "retry with a PAYMENT-SIGNATURE (x402 v2) for one of the offers",
        authorizationUsed: .nonceAlreadyUsed, authorizationExpired: .validBefore,
        deterministicRefusals: [.invalidScheme, .invalidNetwork, .signatureInvalid, .recipientMismatch, .valueMismatch, .validBefore])
    /// The facilitator's `validBefore` margin (the x402 exact EVM scheme).
    public static let validBeforeMarginSeconds: Int64 = 6

    let assets: [AssetKey: Asset]
    let facilitators: FacilitatorPool
    /// Readers of chain state per network (`eip155:<id>`), where an RPC URL is configured.
    let chains: [String: EVMChainReader]
    let checksums = ChecksumMemo()
    let publicURL: String
    /// Shared by the v2 and v1 rails of one gateway.
    let renderings: DiscoveryRenderings

    struct AssetKey: Hashable {
        let network: String
        let address: String
        init(network: String, address: String) {
            self.network = network
            self.address = address.lowercased()
        }
    }

    /// The v2 rail.
    /// - Parameter publicURL: the gateway's base URL, for the `resource` of v1 requirements.
    public init(assets: [Asset], facilitators: FacilitatorPool, chains: [String: EVMChainReader] = [:], publicURL: String = "") {
        self.chains = chains
        self.assets = Dictionary(assets.map { (AssetKey(network: $0.network, address: $0.address), $0) }) { first, _ in first }
        self.facilitators = facilitators
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.version = X402.version
        self.leavesV1ToAnotherRail = false
        self.renderings = DiscoveryRenderings()
    }

    private init(sharing other: ExactEVMRail, version: Int, leavesV1ToAnotherRail: Bool) {
        chains = other.chains
        assets = other.assets
        facilitators = other.facilitators
        publicURL = other.publicURL
        renderings = other.renderings
        self.version = version
        self.leavesV1ToAnotherRail = leavesV1ToAnotherRail
    }

    /// The rails of a gateway: this v2 rail, and with `v1` a v1 rail sharing its assets and facilitators (v2 first, so
    /// a request carrying both headers is read as v2).
    public func rails(v1: Bool) -> [any PaymentRail] {
        guard v1 else { return [self] }
        return [ExactEVMRail(sharing: self, version: X402.version, leavesV1ToAnotherRail: true),
                ExactEVMRail(sharing: self, version: X402V1.version, leavesV1ToAnotherRail: false)]
    }

    // MARK: terms

    public func challengeFields(_ challenge: PaymentChallenge) -> HTTPFields {
        guard version == X402.version, !challenge.offers.isEmpty else { return [:] }
        // `accepts` is written by `writeRequirements` below, not from this value.
        let required = X402.PaymentRequired(
            error: challenge.error,
            resource: .init(url: challenge.resourceURL, description: challenge.description, mimeType: challenge.mimeType), accepts: [])
        var writer = JSONWriter(capacity: 1024)
        required.write(to: &writer, extensions: challenge.discovery.map { renderings.of($0).extensions }) { writer in
            for offer in challenge.offers { writeRequirements(for: offer, to: &writer) }
        }
        var fields = HTTPFields()
        fields[.x402PaymentRequired] = HeaderCodec.base64(writer.bytes)
        return fields
    }

    /// What an offer's requirements name beyond the offer itself: the asset as configured (its EIP-712 name and version),
    /// and the EIP-55 spellings of the asset and the payee.
    func spelled(_ offer: Offer) -> (asset: Asset?, address: String, payTo: String) {
        let asset = assets[AssetKey(network: offer.network, address: offer.asset)]
        return (asset, asset.flatMap { checksums.checksummed($0.address) } ?? offer.asset, checksums.checksummed(offer.payTo) ?? offer.payTo)
    }

    /// The requirements an offer stands for, with the signed offer in `extra` for the client to echo.
    func requirements(for signed: SignedOffer) -> X402.PaymentRequirements {
        let offer = signed.offer
        let (asset, address, payTo) = spelled(offer)
        var extra: [String: JSONValue] = [X402.offerExtraKey: .string(signed.token)]
        if let asset {
            extra["name"] = .string(asset.eip712Name)
            extra["version"] = .string(asset.eip712Version)
        }
        return X402.PaymentRequirements(scheme: "exact", network: offer.network, asset: address, amount: offer.amount.atomic, payTo: payTo,
                                        maxTimeoutSeconds: offer.maxTimeoutSeconds, extra: extra)
    }

    /// The bytes `requirements(for:)` writes, written straight: a 402 writes one per offer, and building each one's
    /// `extra` dictionary to sort it again was most of that. Members in `PaymentRequirements.write`'s order, `extra`'s
    /// keys sorted as `JSONWriter` sorts a dictionary (`tollgate` falls between `name` and `version`); a test compares
    /// the two byte for byte.
    func writeRequirements(for signed: SignedOffer, to writer: inout JSONWriter) {
        let offer = signed.offer
        let (asset, address, payTo) = spelled(offer)
        writer.beginObject()
        writer.field("scheme", "exact")
        writer.field("network", offer.network)
        writer.field("asset", address)
        writer.field("amount", offer.amount.atomic)
        writer.field("payTo", payTo)
        writer.field("maxTimeoutSeconds", offer.maxTimeoutSeconds)
        writer.key("extra")
        writer.beginObject()
        if let asset { writer.field("name", asset.eip712Name) }
        writer.field(X402.offerExtraKey, signed.token)
        if let asset { writer.field("version", asset.eip712Version) }
        writer.endObject()
        writer.endObject()
    }

    // MARK: proofs

    /// The v2 rail alone covers the legacy header too, so a flood of v1 proofs meets the same budget and cache.
    public func proofFingerprint(_ fields: HTTPFields) -> [UInt8]? {
        let header = switch version {
        case X402V1.version: fields[.x402V1Payment]
        default: fields[.x402PaymentSignature]
            ?? (leavesV1ToAnotherRail ? nil : fields[.x402LegacyPayment])
        }
        return header.map { NegativeCache.key(Array($0.utf8)) }
    }

    public func decode(_ fields: HTTPFields) -> ProofDecoding {
        if version == X402V1.version { return decodeV1(fields) }
        guard let header = fields[.x402PaymentSignature] else {
            if !leavesV1ToAnotherRail, fields[.x402LegacyPayment] != nil {
                return .malformed(.invalidVersion, detail: "X-PAYMENT (x402 v1) is not accepted; send PAYMENT-SIGNATURE (x402 v2)")
            }
            return .absent
        }
        let raw: [UInt8], tree: JSONValue
        switch Self.strictTree(header, name: X402.paymentSignatureHeader) {
        case .success(let parsed): (raw, tree) = parsed
        case .failure(let refusal): return refusal.decoding
        }
        guard let payload = X402.PaymentPayload(json: tree), payload.x402Version == X402.version else {
            return (Self.versionRefusal(tree, expected: X402.version)
                ?? HeaderRefusal(reason: .invalidPayload, detail: "PAYMENT-SIGNATURE is not an x402 v2 exact-EVM payment payload")).decoding
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
        guard let key = Self.proofKey(network: accepted.network, asset: accepted.asset, authorization: authorization) else {
            return .malformed(.invalidPayload, detail: "the network, asset, authorization.from or authorization.nonce cannot be read "
                + "(eip155:<chain id>, 0x + 40 hex digits, 0x + 64 hex digits)")
        }
        return .proof(PaymentProof(
            rail: name, network: accepted.network, asset: accepted.asset, payer: authorization.from, payee: authorization.to,
            amount: authorization.value, nonce: authorization.nonce, validAfter: authorization.validAfter,
            validBefore: authorization.validBefore, signature: payload.payload.signature,
            accepted: .init(scheme: accepted.scheme, network: accepted.network, asset: accepted.asset, amount: accepted.amount,
                            payTo: accepted.payTo, maxTimeoutSeconds: accepted.maxTimeoutSeconds,
                            offerToken: accepted.extra?[X402.offerExtraKey]?.string),
            raw: raw, paymentIdentifier: identifier, key: key, onwardPayload: Self.checkedPayload(payload, key: key)))
    }

    /// The single-use key from decoded values: the chain id, the asset and payer as 20 bytes, the nonce as
    /// 32 bytes. With or without `0x`, in any letter case, one authorization has one key.
    static func proofKey(network: String, asset: String, authorization: X402.Authorization) -> ProofKey? {
        guard let chainId = ExactEVMVerifier.chainId(network), let asset = EthereumAddress(asset),
              let payer = EthereumAddress(authorization.from), let nonce = HexString.decodeAllowingPrefix(authorization.nonce), nonce.count == 32
        else { return nil }
        return ProofKey(network: "eip155:\(chainId)", asset: asset.lowercased, payer: payer.lowercased, nonce: HexString.prefixed(nonce))
    }

    /// A refused header: its reason and what to tell the client.
    struct HeaderRefusal: Error {
        let reason: Reason
        let detail: String
        var decoding: ProofDecoding { .malformed(reason, detail: detail) }
    }

    /// The header's bytes and their tree, once they are known to be one strict JSON document of bounded size (one pass,
    /// `StrictJSON.parse`). Parsers disagree on repeated keys; refusing them means every reader of this payload sees one value.
    static func strictTree(_ header: String, name: String) -> Result<([UInt8], JSONValue), HeaderRefusal> {
        guard header.utf8.count <= HeaderCodec.maxHeaderBytes else {
            return .failure(HeaderRefusal(reason: .proofTooLarge, detail: "\(name) is larger than \(HeaderCodec.maxHeaderBytes) bytes"))
        }
        guard let raw = HeaderCodec.base64Bytes(header) else {
            return .failure(HeaderRefusal(reason: .invalidPayload, detail: "\(name) is not base64"))
        }
        return StrictJSON.parse(raw).map { (raw, $0) }.mapError {
            HeaderRefusal(reason: .invalidPayload, detail: "\(name) is not strict JSON: \($0)")
        }
    }

    /// Only on failure: the version the payload names, when it is not the one expected.
    static func versionRefusal(_ tree: JSONValue, expected: Int) -> HeaderRefusal? {
        guard let version = JSONObjectReader(tree)?.int("x402Version"), version != expected else { return nil }
        return HeaderRefusal(reason: .invalidVersion, detail: "x402Version \(version) is not accepted in this header; "
            + (expected == X402.version ? "PAYMENT-SIGNATURE carries x402Version 2" : "X-PAYMENT carries x402Version 1"))
    }

    // MARK: verification

    public func verifyLocally(_ proof: PaymentProof, offer: Offer, now: Int64) -> Verdict {
        verifyLocally(proof, offer: offer, now: now, assets: assets)
    }

    public func isReady(network: String) -> Bool { facilitators.isReady(network: network, version: version) }

    public func verify(_ proof: PaymentProof, offer: SignedOffer, logger: Logger) async throws -> Verdict {
        if ExactEVMVerifier.signatureKind(proof.signature) == .contract {
            // EIP-1271: only a payer that is a contract on this chain signs this way.
            guard let reader = chains[proof.key.network] else {
                return .invalid(.signatureInvalid, detail: "a contract-wallet signature needs an RPC URL for \(proof.network) (settlement.rpc)")
            }
            guard try await reader.hasCode(at: proof.key.payer, logger: logger) else {
                return .invalid(.signatureInvalid, detail: "authorization.from is not a contract, and its signature does not recover to it")
            }
        }
        let request = facilitatorRequest(proof, offer: offer)
        let answer = try await withFailover(network: proof.network) { try await $0.verify(request, logger: logger) }
        guard answer.isValid else {
            return .invalid(Reason(answer.invalidReason ?? "invalid_payload"), detail: FacilitatorText.shown(answer.invalidMessage) ?? "refused by the facilitator")
        }
        // A facilitator vouching for someone other than the signer is not a verdict about this proof.
        if let payer = answer.payer, payer.lowercased() != proof.payer.lowercased() {
            return .invalid(.signatureInvalid, detail: "the facilitator named another payer")
        }
        return .valid(payer: proof.payer)
    }

    public func settle(_ proof: PaymentProof, offer: SignedOffer, before: @Sendable (SettlementAttempt) async throws -> Void,
                       logger: Logger) async throws -> Settlement {
        let request = facilitatorRequest(proof, offer: offer)
        var lastFailure = RailFailure(.notReady, "no facilitator is ready for \(proof.network)", authority: "-")
        for facilitator in facilitators.candidates(for: proof.network, version: version) {
            try await before(SettlementAttempt(authority: facilitator.name, request: request.body))
            do {
                let answer = try await timed(facilitator) { try await $0.settle(request, logger: logger) }
                return try settlement(answer, network: proof.network, payer: proof.payer, authority: facilitator.name)
            } catch let failure as RailFailure where !failure.reachedAuthority {
                // Never connected, so nothing can have moved: the next facilitator may be asked. Any other
                // failure may come after the first one acted, and asking another could settle twice.
                lastFailure = failure
            }
        }
        throw lastFailure
    }

    public func resettle(_ attempt: SettlementAttempt, logger: Logger) async throws -> Settlement {
        guard let facilitator = facilitators.member(named: attempt.authority) else {
            throw RailFailure(.notReady, "the facilitator first asked is no longer configured", authority: attempt.authority)
        }
        let request = X402.FacilitatorRequest(body: attempt.request)
        let answer = try await timed(facilitator) { try await $0.settle(request, logger: logger) }
        let contents = request.contents()
        return try settlement(answer, network: contents?.paymentRequirements.network ?? "",
                              payer: contents?.paymentPayload.payload.authorization.from ?? "", authority: attempt.authority)
    }

    public func chainAuthorization(_ key: ProofKey, payee: String, amount: String, since: Int64?, logger: Logger) async throws
        -> ChainAuthorization? {
        guard let reader = chains[key.network] else { return nil }
        return try await reader.authorization(asset: key.asset, payer: key.payer, nonce: key.nonce, paying: (payee, amount), since: since,
                                              logger: logger)
    }

    /// The settlement a facilitator's answer reports, unless it names another payer or network than the payment's:
    /// such an answer is about another payment (a lie, or an answer paired with the wrong request), so this payment's
    /// outcome is unknown and left to the reconciler, never taken for settled or failed.
    private func settlement(_ answer: X402.SettleResponse, network: String, payer: String, authority: String) throws -> Settlement {
        let status: Settlement.Status = answer.success ? .settled : (answer.errorReason == "settlement_pending" ? .pending : .failed)
        // A v1 facilitator names the network the v1 way; the gateway records CAIP-2.
        let answered = X402V1.Networks.caip2(answer.network) ?? answer.network
        if let named = answer.payer, !named.isEmpty, !payer.isEmpty, named.lowercased() != payer.lowercased() {
            throw RailFailure(.undecodable, "the settlement answer names another payer (\(named))", authority: authority)
        }
        if !answered.isEmpty, !network.isEmpty, answered != network {
            throw RailFailure(.undecodable, "the settlement answer names another network (\(answered))", authority: authority)
        }
        // x402 names the transaction of every success: one without is no evidence of what moved (a refund would have none
        // to point at), so it is not taken; asked again, the facilitator or the chain decides.
        if status == .settled, answer.transaction.trimmingCharacters(in: .whitespaces).isEmpty {
            throw RailFailure(.undecodable, "the settlement answer says success but names no transaction", authority: authority)
        }
        return Settlement(status: status, transaction: answer.transaction, network: answered.isEmpty ? network : answered,
                          payer: answer.payer ?? payer, errorReason: answer.errorReason, errorMessage: FacilitatorText.shown(answer.errorMessage))
    }

    public func receiptFields(_ settlement: Settlement) -> HTTPFields {
        let response = X402.SettleResponse(
            success: settlement.status == .settled, errorReason: settlement.errorReason, errorMessage: settlement.errorMessage,
            payer: settlement.payer, transaction: settlement.transaction, network: settlement.network)
        var fields = HTTPFields()
        if version == X402V1.version {
            var v1 = response
            v1.network = X402V1.Networks.name(response.network)
            fields[.x402V1PaymentResponse] = HeaderCodec.base64(JSONWriter.bytes(v1))
        } else {
            fields[.x402PaymentResponse] = HeaderCodec.base64(JSONWriter.bytes(response))
        }
        return fields
    }

    /// The proof re-encoded from the values that were checked and reserved (never the client's bytes, which
    /// another parser could read differently), with the requirements of the offer it answers (built from
    /// configuration, not from what the client echoed).
    func facilitatorRequest(_ proof: PaymentProof, offer: SignedOffer) -> X402.FacilitatorRequest {
        if version == X402V1.version {
            return X402.FacilitatorRequest(v1Payload: proof.onwardPayload ?? proof.raw, requirements: v1Requirements(for: offer))
        }
        return X402.FacilitatorRequest(rawPayload: Self.checkedPayload(proof), requirements: requirements(for: offer))
    }

    /// The payload as decoded, with the authorization in the spelling of its key (made once, when decoded).
    static func checkedPayload(_ proof: PaymentProof) -> [UInt8] {
        if let onward = proof.onwardPayload { return onward }
        guard let payload = StrictJSON.tree(proof.raw).flatMap(X402.PaymentPayload.init(json:)) else { return proof.raw }
        return checkedPayload(payload, key: proof.key)
    }

    static func checkedPayload(_ decoded: X402.PaymentPayload, key: ProofKey) -> [UInt8] {
        var payload = decoded
        // The client's echo of the 402's extensions is not passed on (a payer could otherwise have anything catalogued
        // under this gateway's payee): only its idempotency key, which the gateway checked.
        payload.extensions = payload.extensions?.filter { $0.key == X402.paymentIdentifierExtension }
        if payload.extensions?.isEmpty == true { payload.extensions = nil }
        payload.payload.authorization.from = key.payer
        payload.payload.authorization.nonce = key.nonce
        payload.payload.authorization.to = EthereumAddress(payload.payload.authorization.to)?.lowercased ?? payload.payload.authorization.to
        return JSONWriter.bytes(payload, capacity: 2048)
    }

    /// Asks the ready facilitators in order; a transport failure moves on to the next one (verification
    /// has no effect, so asking twice is harmless).
    private func withFailover<Answer>(network: String, _ call: (any Facilitator) async throws -> Answer) async throws -> Answer {
        var lastFailure = RailFailure(.notReady, "no facilitator is ready for \(network)", authority: "-")
        for facilitator in facilitators.candidates(for: network, version: version) {
            do {
                return try await timed(facilitator, call)
            } catch let failure as RailFailure {
                lastFailure = failure
            }
        }
        throw lastFailure
    }

    /// One call, reported to the facilitator's circuit breaker.
    private func timed<Answer>(_ facilitator: any Facilitator, _ call: (any Facilitator) async throws -> Answer) async throws -> Answer {
        let started = ContinuousClock.now
        do {
            let answer = try await call(facilitator)
            facilitators.record(facilitator.name, failure: nil, latencyMillis: (ContinuousClock.now - started).inMilliseconds, now: ContinuousClock.seconds)
            return answer
        } catch let failure as RailFailure {
            facilitators.record(facilitator.name, failure: failure, latencyMillis: (ContinuousClock.now - started).inMilliseconds, now: ContinuousClock.seconds)
            throw failure
        }
    }
}

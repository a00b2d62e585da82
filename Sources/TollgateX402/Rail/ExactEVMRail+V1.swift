import Foundation
import HTTPTypes
import TollgateCore

/// What the v1 rail does differently: terms in the 402's body, the proof in `X-PAYMENT` with no echoed offer, the
/// receipt in `X-PAYMENT-RESPONSE`, and v1 messages to the facilitator. Every check is the v2 rail's.
extension ExactEVMRail {
    /// x402 v1 on the wire. Its proofs echo no offer (`echoesOffers: false`); on a route that does not take v1 they are
    /// refused as `invalid_x402_version`.
    public static let wireV1 = RailWire(
        proofFields: [.x402V1Payment],
        exposedFields: [.x402V1PaymentResponse],
        proofFormat: "x402 v1 (scheme exact), header X-PAYMENT",
        paymentHint: "retry with an X-PAYMENT (x402 v1) for one of the body's accepts",
        authorizationUsed: wire.authorizationUsed, authorizationExpired: wire.authorizationExpired,
        // Only what the bytes alone decide: the amount, payee, network and even the signature's domain (the asset) are
        // judged against the route the proof arrives at, and another route may take the same bytes; an expired one may
        // still be its owner's late retry there.
        deterministicRefusals: [.invalidScheme], echoesOffers: false, formatRefused: .invalidVersion,
        termsRefusals: [.valueMismatch, .recipientMismatch])

    /// The v1 body members: `x402Version: 1` and `accepts` (the gateway passes the offers a facilitator serves in v1).
    public func challengeBody(_ challenge: PaymentChallenge) -> [String: RawJSON] {
        guard version == X402V1.version else { return [:] }
        let outputSchema = challenge.discovery.map { renderings.of($0).v1OutputSchema }
        var writer = JSONWriter(capacity: 1024)
        writer.beginArray()
        var written = 0
        for offer in Self.nameable(challenge.offers) {
            writeV1Requirements(for: offer, resource: challenge.resourceURL, description: challenge.description, mimeType: challenge.mimeType,
                                outputSchema: outputSchema, to: &writer)
            written += 1
        }
        writer.endArray()
        guard written > 0 else { return [:] }
        return ["x402Version": Self.v1VersionMember, "accepts": RawJSON(writer.bytes)]
    }

    private static let v1VersionMember = RawJSON(JSONValue.integer(Int64(X402V1.version)))

    /// The offers a v1 payment can be told apart by: v1 names no asset, so two assets on one network at the same amount
    /// and payee are left out (such a payment would be refused, `Journey.bindToRequest`).
    static func nameable(_ offers: [SignedOffer]) -> [SignedOffer] {
        offers.filter { offer in
            !offers.contains {
                $0.offer.network == offer.offer.network && $0.offer.amount == offer.offer.amount && $0.offer.payTo == offer.offer.payTo
                    && $0.offer.asset != offer.offer.asset
            }
        }
    }

    /// The v1 requirements of an offer. For the facilitator (no arguments) the resource is rebuilt from the offer's
    /// request line, which is what the gateway checked.
    func v1Requirements(for signed: SignedOffer, resource: String? = nil, description: String? = nil, mimeType: String? = nil,
                        discovery: Discovery? = nil) -> X402V1.PaymentRequirements {
        let v2 = requirements(for: signed)
        var extra = v2.extra ?? [:]
        // A v1 client cannot echo the offer; the token would only lengthen the body.
        extra[X402.offerExtraKey] = nil
        let target = signed.offer.request.split(separator: " ", maxSplits: 1).last.map(String.init) ?? ""
        return X402V1.PaymentRequirements(
            scheme: v2.scheme, network: X402V1.Networks.name(v2.network), maxAmountRequired: v2.amount,
            resource: resource ?? publicURL + target, description: description ?? signed.offer.resource,
            mimeType: mimeType ?? "application/json", outputSchema: discovery.map(Self.v1OutputSchema),
            payTo: v2.payTo, maxTimeoutSeconds: v2.maxTimeoutSeconds, asset: v2.asset, extra: extra.isEmpty ? nil : extra)
    }

    /// The bytes `v1Requirements(for:resource:description:mimeType:).write(to:outputSchema:)` writes, written straight
    /// as `writeRequirements` writes the v2 ones: a 402 with v1 terms writes one per offer, and building the v2
    /// requirements, their `extra` dictionary and a copy without the token was most of its body's cost. `extra` holds
    /// `name` and `version` (sorted, as `JSONWriter` sorts a dictionary) when the asset is configured and is left out
    /// otherwise; a test compares the two byte for byte.
    func writeV1Requirements(for signed: SignedOffer, resource: String, description: String, mimeType: String, outputSchema: RawJSON?,
                             to writer: inout JSONWriter) {
        let offer = signed.offer
        let (asset, address, payTo) = spelled(offer)
        writer.beginObject()
        writer.field("scheme", "exact")
        writer.field("network", X402V1.Networks.name(offer.network))
        writer.field("maxAmountRequired", offer.amount.atomic)
        writer.field("resource", resource)
        writer.field("description", description)
        writer.field("mimeType", mimeType)
        writer.field("outputSchema", outputSchema)
        writer.field("payTo", payTo)
        writer.field("maxTimeoutSeconds", offer.maxTimeoutSeconds)
        writer.field("asset", address)
        if let asset {
            writer.key("extra")
            writer.beginObject()
            writer.field("name", asset.eip712Name)
            writer.field("version", asset.eip712Version)
            writer.endObject()
        }
        writer.endObject()
    }

    /// A proof in `X-PAYMENT`: the v1 payload (`x402Version: 1`, `scheme`, `network` as a v1 name or CAIP-2, `payload`).
    /// Its asset is left empty: v1 does not name it, and the journey takes it from the terms the proof is bound to.
    func decodeV1(_ fields: HTTPFields) -> ProofDecoding {
        guard let header = fields[.x402V1Payment] else { return .absent }
        let raw: [UInt8], tree: JSONValue
        switch Self.strictTree(header, name: X402V1.paymentHeader) {
        case .success(let parsed): (raw, tree) = parsed
        case .failure(let refusal): return refusal.decoding
        }
        guard let payload = JSONObjectReader(tree).flatMap(X402V1.PaymentPayload.init), payload.x402Version == X402V1.version else {
            return (Self.versionRefusal(tree, expected: X402V1.version)
                ?? HeaderRefusal(reason: .invalidPayload, detail: "X-PAYMENT is not an x402 v1 exact-EVM payment payload")).decoding
        }
        guard let network = X402V1.Networks.caip2(payload.network) else {
            return .malformed(.invalidNetwork, detail: "\(payload.network) is neither an x402 v1 network name nor eip155:<chain id>")
        }
        let authorization = payload.payload.authorization
        guard let chainId = ExactEVMVerifier.chainId(network), let payer = EthereumAddress(authorization.from),
              let nonce = HexString.decodeAllowingPrefix(authorization.nonce), nonce.count == 32
        else {
            return .malformed(.invalidPayload, detail: "authorization.from or authorization.nonce cannot be read (0x + 40 hex digits, 0x + 64 hex digits)")
        }
        let key = ProofKey(network: "eip155:\(chainId)", asset: "", payer: payer.lowercased, nonce: HexString.prefixed(nonce))
        let payee = EthereumAddress(authorization.to)?.lowercased ?? authorization.to
        // Passed on as checked: the v1 name of the network, the authorization in the spelling of its key.
        var onward = payload
        onward.network = X402V1.Networks.name(network)
        onward.payload.authorization.from = key.payer
        onward.payload.authorization.nonce = key.nonce
        onward.payload.authorization.to = payee
        return .proof(PaymentProof(
            rail: name, network: network, asset: "", payer: authorization.from, payee: payee, amount: authorization.value,
            nonce: authorization.nonce, validAfter: authorization.validAfter, validBefore: authorization.validBefore,
            signature: payload.payload.signature,
            accepted: .init(scheme: payload.scheme, network: network, asset: "", amount: authorization.value, payTo: payee,
                            maxTimeoutSeconds: nil, offerToken: nil),
            raw: raw, paymentIdentifier: nil, key: key, onwardPayload: JSONWriter.bytes(onward)))
    }

    /// v1 discovery in `outputSchema`: `{"input": {"type": "http", "method", "discoverable", "queryParams", "bodyType",
    /// "bodyFields"}, "output": …}`. v1 readers take these as examples, so only examples are written (the schemas are in
    /// the bazaar extension and the manifest).
    static func v1OutputSchema(_ discovery: Discovery) -> JSONValue {
        var input: [String: JSONValue] = ["type": .string("http"), "method": .string(discovery.method ?? "GET"), "discoverable": .bool(true)]
        input["queryParams"] = discovery.queryExample
        if discovery.takesBody {
            input["bodyType"] = .string(discovery.bodyType ?? "json")
            input["bodyFields"] = discovery.bodyExample
        }
        var schema: [String: JSONValue] = ["input": .object(input)]
        schema["output"] = discovery.outputExample
        return .object(schema)
    }
}

import Foundation
import HTTPTypes
import TollgateCore

/// What the v1 rail does differently: terms in the 402's body, the proof in `X-PAYMENT` with no echoed offer, the
/// receipt in `X-PAYMENT-RESPONSE`, and v1 messages to the facilitator. Every check is the v2 rail's.
extension ExactEVMRail {
    /// x402 v1 on the wire. Its proofs echo no offer (`echoesOffers: false`); on a route that does not take v1 they are
    /// refused as `invalid_x402_version`.
    public static let wireV1 = RailWire(
        proofFields: [HTTPField.Name(X402V1.paymentHeader)!],
        exposedFields: [HTTPField.Name(X402V1.paymentResponseHeader)!],
        proofFormat: "x402 v1 (scheme exact), header X-PAYMENT",
        paymentHint: "retry with an X-PAYMENT (x402 v1) for one of the body's accepts",
        authorizationUsed: wire.authorizationUsed, authorizationExpired: wire.authorizationExpired,
        // Only what the bytes alone decide: the amount, payee, network and even the signature's domain (the asset) are
        // judged against the route the proof arrives at, and another route may take the same bytes.
        deterministicRefusals: [.invalidScheme, .validBefore], echoesOffers: false, formatRefused: .invalidVersion)

    /// The v1 body members: `x402Version: 1` and `accepts` with the offers on networks a facilitator serves in v1.
    public func challengeBody(_ challenge: PaymentChallenge) -> [String: JSONValue] {
        guard version == X402V1.version else { return [:] }
        let accepts = challenge.offers.filter { isReady(network: $0.offer.network) }.map {
            JSONValue.object(v1Requirements(for: $0, resource: challenge.resourceURL, description: challenge.description,
                                            mimeType: challenge.mimeType, discovery: challenge.discovery).jsonObject)
        }
        guard !accepts.isEmpty else { return [:] }
        return ["x402Version": .integer(Int64(X402V1.version)), "accepts": .array(accepts)]
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

    /// A proof in `X-PAYMENT`: the v1 payload (`x402Version: 1`, `scheme`, `network` as a v1 name or CAIP-2, `payload`).
    /// Its asset is left empty: v1 does not name it, and the journey takes it from the terms the proof is bound to.
    func decodeV1(_ fields: HTTPFields) -> ProofDecoding {
        guard let header = fields[HTTPField.Name(X402V1.paymentHeader)!] else { return .absent }
        let raw: [UInt8]
        switch Self.strictJSON(header, name: X402V1.paymentHeader) {
        case .success(let bytes): raw = bytes
        case .failure(let refusal): return refusal.decoding
        }
        guard let payload = try? JSONDecoder().decode(X402V1.PaymentPayload.self, from: Data(raw)), payload.x402Version == X402V1.version else {
            return (Self.versionRefusal(raw, expected: X402V1.version)
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
    /// "bodyFields"}, "output": …}`, examples where configured, else schemas.
    static func v1OutputSchema(_ discovery: Discovery) -> JSONValue {
        var input: [String: JSONValue] = ["type": .string("http"), "method": .string(discovery.method ?? "GET"), "discoverable": .bool(true)]
        input["queryParams"] = discovery.queryExample ?? discovery.querySchema
        if discovery.takesBody {
            input["bodyType"] = .string(discovery.bodyType ?? "json")
            input["bodyFields"] = discovery.bodyExample ?? discovery.bodySchema
        }
        var schema: [String: JSONValue] = ["input": .object(input)]
        schema["output"] = discovery.outputExample ?? discovery.outputSchema
        return .object(schema)
    }
}

extension X402V1.PaymentRequirements {
    /// As a JSON object (the 402 body is assembled from values).
    var jsonObject: [String: JSONValue] {
        var object: [String: JSONValue] = [
            "scheme": .string(scheme), "network": .string(network), "maxAmountRequired": .string(maxAmountRequired),
            "resource": .string(resource), "description": .string(description), "mimeType": .string(mimeType),
            "payTo": .string(payTo), "maxTimeoutSeconds": .integer(Int64(maxTimeoutSeconds)), "asset": .string(asset),
        ]
        if let outputSchema { object["outputSchema"] = outputSchema }
        if let extra { object["extra"] = .object(extra) }
        return object
    }
}

import TollgateCore

// x402 messages read by hand from a strict parse (`StrictJSON.parse`): a paid request decodes one payment payload,
// and `JSONDecoder` was the largest share of that. The rules are those of the synthesized `Decodable` conformances
// (`JSONObjectReader`); the fuzz target FuzzX402JSON checks that both readings agree.

extension X402.PaymentPayload {
    /// Nil when `json` is not a payment payload of this shape (any version number; the caller checks it).
    public init?(json: JSONValue) {
        guard let object = JSONObjectReader(json) else { return nil }
        self.init(object)
    }

    init?(_ object: JSONObjectReader) {
        guard let version = object.int("x402Version"),
              let resourceObject = object.optionalObject("resource"),
              let accepted = object.object("accepted").flatMap(X402.PaymentRequirements.init),
              let payload = object.object("payload").flatMap(X402.ExactEVMPayload.init),
              let extensions = object.optionalObject("extensions") else { return nil }
        var resource: X402.ResourceInfo?
        if let resourceObject {
            guard let info = X402.ResourceInfo(resourceObject) else { return nil }
            resource = info
        }
        self.init(x402Version: version, resource: resource, accepted: accepted, payload: payload, extensions: extensions?.members)
    }
}

extension X402.PaymentRequired {
    /// A 402's terms (`PAYMENT-REQUIRED`, or an MCP tool result's); nil when `json` is not terms of this shape (any version
    /// number; the caller checks it). How a client reads what it is asked to pay: one strict pass, no `JSONDecoder`.
    public init?(json: JSONValue) {
        guard let object = JSONObjectReader(json), let version = object.int("x402Version"), let error = object.optionalString("error"),
              let resource = object.object("resource").flatMap(X402.ResourceInfo.init),
              let acceptsValues = object.members["accepts"]?.array, let extensions = object.optionalObject("extensions") else { return nil }
        var accepts: [X402.PaymentRequirements] = []
        accepts.reserveCapacity(acceptsValues.count)
        for value in acceptsValues {
            guard let requirements = JSONObjectReader(value).flatMap(X402.PaymentRequirements.init) else { return nil }
            accepts.append(requirements)
        }
        self.init(x402Version: version, error: error, resource: resource, accepts: accepts, extensions: extensions?.members)
    }
}

extension X402.ResourceInfo {
    init?(_ object: JSONObjectReader) {
        guard let url = object.string("url"), let description = object.optionalString("description"),
              let mimeType = object.optionalString("mimeType") else { return nil }
        self.init(url: url, description: description, mimeType: mimeType)
    }
}

extension X402.PaymentRequirements {
    init?(_ object: JSONObjectReader) {
        guard let scheme = object.string("scheme"), let network = object.string("network"), let asset = object.string("asset"),
              let amount = object.string("amount"), let payTo = object.string("payTo"),
              let maxTimeoutSeconds = object.int("maxTimeoutSeconds"), let extra = object.optionalObject("extra") else { return nil }
        self.init(scheme: scheme, network: network, asset: asset, amount: amount, payTo: payTo, maxTimeoutSeconds: maxTimeoutSeconds,
                  extra: extra?.members)
    }
}

extension X402.ExactEVMPayload {
    init?(_ object: JSONObjectReader) {
        guard let signature = object.string("signature"),
              let authorization = object.object("authorization").flatMap(X402.Authorization.init) else { return nil }
        self.init(signature: signature, authorization: authorization)
    }
}

extension X402.Authorization {
    init?(_ object: JSONObjectReader) {
        guard let from = object.string("from"), let to = object.string("to"), let value = object.string("value"),
              let validAfter = object.string("validAfter"), let validBefore = object.string("validBefore"),
              let nonce = object.string("nonce") else { return nil }
        self.init(from: from, to: to, value: value, validAfter: validAfter, validBefore: validBefore, nonce: nonce)
    }
}

extension X402V1.PaymentPayload {
    init?(_ object: JSONObjectReader) {
        guard let version = object.int("x402Version"), let scheme = object.string("scheme"), let network = object.string("network"),
              let payload = object.object("payload").flatMap(X402.ExactEVMPayload.init) else { return nil }
        self.init(x402Version: version, scheme: scheme, network: network, payload: payload)
    }
}

extension X402V1.PaymentRequirements {
    init?(_ object: JSONObjectReader) {
        guard let scheme = object.string("scheme"), let network = object.string("network"),
              let maxAmountRequired = object.string("maxAmountRequired"), let resource = object.string("resource"),
              let description = object.string("description"), let mimeType = object.string("mimeType"),
              let payTo = object.string("payTo"), let maxTimeoutSeconds = object.int("maxTimeoutSeconds"), let asset = object.string("asset"),
              let extra = object.optionalObject("extra") else { return nil }
        // Any JSON value; null reads as absent, as the synthesized conformance reads an optional.
        let outputSchema = object.members["outputSchema"].flatMap { $0 == .null ? nil : $0 }
        self.init(scheme: scheme, network: network, maxAmountRequired: maxAmountRequired, resource: resource, description: description,
                  mimeType: mimeType, outputSchema: outputSchema, payTo: payTo, maxTimeoutSeconds: maxTimeoutSeconds, asset: asset,
                  extra: extra?.members)
    }
}

extension X402.FacilitatorRequest {
    /// The body parsed, for facilitators; nil when it is not an exact-EVM request of either version (or not strict
    /// JSON). One strict pass, then the members read by hand: the v2 shape, or the v1 shape when the body names v1
    /// (at its top, or, for v1 bodies sent without it, in its payload).
    public func contents() -> Contents? {
        guard let tree = StrictJSON.tree(body), let object = JSONObjectReader(tree),
              let topVersion = object.optionalInt("x402Version"), let payloadObject = object.object("paymentPayload"),
              let requirementsObject = object.object("paymentRequirements") else { return nil }
        guard (topVersion ?? payloadObject.int("x402Version")) == X402V1.version else {
            guard let version = topVersion, let payload = X402.PaymentPayload(payloadObject),
                  let requirements = X402.PaymentRequirements(requirementsObject) else { return nil }
            return Contents(x402Version: version, paymentPayload: payload, paymentRequirements: requirements)
        }
        guard let v1Payload = X402V1.PaymentPayload(payloadObject), let v1Requirements = X402V1.PaymentRequirements(requirementsObject),
              let requirements = v1Requirements.v2 else { return nil }
        // A v1 payload echoes no terms: `accepted` is the requirements it was sent with, on the network the payload names.
        var accepted = requirements
        accepted.network = X402V1.Networks.caip2(v1Payload.network) ?? v1Payload.network
        let payload = X402.PaymentPayload(x402Version: v1Payload.x402Version, resource: X402.ResourceInfo(url: v1Requirements.resource),
                                          accepted: accepted, payload: v1Payload.payload)
        return Contents(x402Version: topVersion ?? X402V1.version, paymentPayload: payload, paymentRequirements: requirements)
    }
}

extension X402.VerifyResponse {
    /// A facilitator's `/verify` answer; nil when a member is missing or of another type.
    public init?(json: JSONValue) {
        guard let object = JSONObjectReader(json), let isValid = object.bool("isValid"),
              let invalidReason = object.optionalString("invalidReason"), let invalidMessage = object.optionalString("invalidMessage"),
              let payer = object.optionalString("payer") else { return nil }
        self.init(isValid: isValid, invalidReason: invalidReason, invalidMessage: invalidMessage, payer: payer)
    }
}

extension X402.SettleResponse {
    /// A facilitator's `/settle` answer (or a `PAYMENT-RESPONSE`); nil when a member is missing or of another type.
    public init?(json: JSONValue) {
        guard let object = JSONObjectReader(json), let success = object.bool("success"),
              let errorReason = object.optionalString("errorReason"), let errorMessage = object.optionalString("errorMessage"),
              let payer = object.optionalString("payer"), let transaction = object.string("transaction"),
              let network = object.string("network"), let amount = object.optionalString("amount") else { return nil }
        self.init(success: success, errorReason: errorReason, errorMessage: errorMessage, payer: payer, transaction: transaction,
                  network: network, amount: amount)
    }
}

import TollgateCore

// x402 messages read by hand from a strict parse (`StrictJSON.parse`): a paid request decodes one payment payload,
// and `JSONDecoder` was the largest share of that. The rules are those of the synthesized `Decodable` conformances
// (`JSONObjectReader`); the fuzz target FuzzX402JSON checks that both readings agree.

extension X402.PaymentPayload {
    /// Nil when `json` is not a payment payload of this shape (any version number; the caller checks it).
    public init?(json: JSONValue) {
        guard let object = JSONObjectReader(json), let version = object.int("x402Version"),
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

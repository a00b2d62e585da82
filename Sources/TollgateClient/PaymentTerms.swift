import TollgateCore
import TollgateX402

/// What a 402 asks for, read the way every server spelled it: the x402 v2 `PAYMENT-REQUIRED` header, or the v1
/// body of older servers (`x402Version: 1`, `accepts[].maxAmountRequired`, v1 network names). Each offer is brought
/// to one shape (`PaymentOption`) so the policy and the ledger never see the version.
public struct PaymentTerms: Sendable, Hashable {
    /// 2 (header) or 1 (body).
    public let version: Int
    /// The resource the terms name (v2 `resource`, v1 `accepts[].resource`).
    public let resource: X402.ResourceInfo?
    /// The offers, in the server's order.
    public let options: [PaymentOption]
    /// The server's reason (`error`), e.g. `nonce_already_used` on a 402 that answered a payment.
    public let error: String?
    /// The terms as a v2 `PaymentRequired` (a v1 body's offers brought to the v2 shape), for callers that show or
    /// keep them whole.
    public let required: X402.PaymentRequired

    /// The terms of a 402; nil when the response carries none a client could pay.
    public static func read(headerValue: String?, body: [UInt8]) -> PaymentTerms? {
        if let headerValue, let required = HeaderCodec.read(X402.PaymentRequired.self, header: headerValue), required.x402Version == 2 {
            return PaymentTerms(v2: required)
        }
        return v1(body: body)
    }

    init(v2 required: X402.PaymentRequired) {
        version = 2
        resource = required.resource
        options = required.accepts.map { PaymentOption(requirements: $0, v1Network: nil) }
        error = required.error
        self.required = required
    }

    /// A v1 body: `{"x402Version": 1, "error": …, "accepts": [{scheme, network, maxAmountRequired, resource, …}]}`.
    static func v1(body: [UInt8]) -> PaymentTerms? {
        guard let decoded = StrictJSON.tree(body).flatMap(V1Body.init(json:)), decoded.x402Version == 1 else { return nil }
        var options: [PaymentOption] = []
        var resource: X402.ResourceInfo?
        for offer in decoded.accepts {
            guard let network = X402V1.Networks.caip2(offer.network) else { continue }
            let requirements = X402.PaymentRequirements(scheme: offer.scheme, network: network, asset: offer.asset, amount: offer.maxAmountRequired,
                                                        payTo: offer.payTo, maxTimeoutSeconds: offer.maxTimeoutSeconds ?? 60, extra: offer.extra)
            options.append(PaymentOption(requirements: requirements, v1Network: offer.network))
            resource = resource ?? offer.resource.map { X402.ResourceInfo(url: $0, description: offer.description, mimeType: offer.mimeType) }
        }
        guard !options.isEmpty else { return nil }
        let required = X402.PaymentRequired(x402Version: 1, error: decoded.error, resource: resource ?? X402.ResourceInfo(url: ""),
                                            accepts: options.map(\.requirements))
        return PaymentTerms(version: 1, resource: resource, options: options, error: decoded.error, required: required)
    }

    init(version: Int, resource: X402.ResourceInfo?, options: [PaymentOption], error: String?, required: X402.PaymentRequired) {
        self.version = version
        self.resource = resource
        self.options = options
        self.error = error
        self.required = required
    }

    /// Read from one strict pass (`StrictJSON`: terms with a repeated key, which two readers could read two ways, are not
    /// terms), members as a `Decodable` reads them: required present with their type, optional absent or null.
    struct V1Body {
        var x402Version: Int
        var error: String?
        var accepts: [V1Offer]

        init?(json: JSONValue) {
            guard let object = JSONObjectReader(json), let version = object.int("x402Version"), let error = object.optionalString("error"),
                  let values = object.members["accepts"]?.array else { return nil }
            var accepts: [V1Offer] = []
            for value in values {
                guard let offer = JSONObjectReader(value).flatMap(V1Offer.init) else { return nil }
                accepts.append(offer)
            }
            (x402Version, self.error, self.accepts) = (version, error, accepts)
        }
    }

    struct V1Offer {
        var scheme: String
        var network: String
        var maxAmountRequired: String
        var resource: String?
        var description: String?
        var mimeType: String?
        var payTo: String
        var maxTimeoutSeconds: Int?
        var asset: String
        var extra: [String: JSONValue]?

        init?(_ object: JSONObjectReader) {
            guard let scheme = object.string("scheme"), let network = object.string("network"),
                  let maxAmountRequired = object.string("maxAmountRequired"), let resource = object.optionalString("resource"),
                  let description = object.optionalString("description"), let mimeType = object.optionalString("mimeType"),
                  let payTo = object.string("payTo"), let maxTimeoutSeconds = object.optionalInt("maxTimeoutSeconds"),
                  let asset = object.string("asset"), let extra = object.optionalObject("extra") else { return nil }
            (self.scheme, self.network, self.maxAmountRequired, self.resource, self.description, self.mimeType) =
                (scheme, network, maxAmountRequired, resource, description, mimeType)
            (self.payTo, self.maxTimeoutSeconds, self.asset, self.extra) = (payTo, maxTimeoutSeconds, asset, extra?.members)
        }
    }
}

/// One offer of a 402, in the v2 shape whatever version carried it.
public struct PaymentOption: Sendable, Hashable {
    /// The offer as the server wrote it (v2), or as read from a v1 body (network in CAIP-2).
    public let requirements: X402.PaymentRequirements
    /// The v1 network name the server used, when the offer came in a v1 body (the payment names it back).
    public let v1Network: String?

    public var scheme: String { requirements.scheme }
    public var network: String { requirements.network }
    public var asset: String { requirements.asset }
    public var payTo: String { requirements.payTo }
    /// Nil when the server's amount is not an amount.
    public var amount: TokenAmount? { TokenAmount(atomic: requirements.amount) }

    /// Whether this client can sign it: the `exact` scheme on an EVM network.
    public var isPayable: Bool { scheme == "exact" && requirements.network.hasPrefix("eip155:") && amount != nil }
}

/// x402 v1 network names (now `X402V1.Networks` in TollgateX402, which the gateway shares).
@available(*, deprecated, renamed: "X402V1.Networks")
public typealias V1Networks = X402V1.Networks

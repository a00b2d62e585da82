/// The terms the gateway offered for one request, as bound into a signed offer token.
///
/// An offer answers one exact request (method, path and query, body digest) for one client; it
/// names one way to pay (network, asset, amount, payee) and expires.
public struct Offer: Sendable, Hashable, Codable {
    public var correlationId: String
    public var resource: String
    /// `METHOD /path?query` of the request that was answered with 402.
    public var request: String
    /// SHA-256 (hex) of the request body, for methods with a body.
    public var bodyDigest: String?
    public var client: String
    public var network: String
    /// Token contract address, lowercase.
    public var asset: String
    public var amount: TokenAmount
    /// Payee address, lowercase.
    public var payTo: String
    public var unit: String
    public var quantity: Int
    public var maxTimeoutSeconds: Int
    /// Unix seconds after which the offer is no longer accepted.
    public var expiresAt: Int64

    /// The latest expiry the gateway computes with (the end of the year 9999): an expiry a client chose (the
    /// authorization's `validBefore` of a proof that echoes no offer) is brought within it, and within the epoch, so
    /// no period, timestamp or retention time derived from it can overflow.
    public static let latestExpiry: Int64 = 253_402_300_799

    /// `seconds` within 0 and `latestExpiry`.
    public static func boundedExpiry(_ seconds: Int64) -> Int64 { min(max(seconds, 0), latestExpiry) }

    public init(correlationId: String, resource: String, request: String, bodyDigest: String?, client: String,
                network: String, asset: String, amount: TokenAmount, payTo: String, unit: String, quantity: Int,
                maxTimeoutSeconds: Int, expiresAt: Int64) {
        self.correlationId = correlationId
        self.resource = resource
        self.request = request
        self.bodyDigest = bodyDigest
        self.client = client
        self.network = network
        self.asset = asset.lowercased()
        self.amount = amount
        self.payTo = payTo.lowercased()
        self.unit = unit
        self.quantity = quantity
        self.maxTimeoutSeconds = maxTimeoutSeconds
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case correlationId = "cid", resource = "res", request = "req", bodyDigest = "bd", client = "cli"
        case network = "net", asset = "ast", amount = "amt", payTo = "pay", unit = "unit", quantity = "qty"
        case maxTimeoutSeconds = "mts", expiresAt = "exp"
    }
}

extension Offer {
    /// The claims of a token (`OfferSigner.claims`) read back, as their `Decodable` conformance reads them; nil when a
    /// claim is missing or of another type. (Addresses were signed lowercase, so the initializer's lowercasing keeps them.)
    init?(claims: JSONValue) {
        guard let object = JSONObjectReader(claims), let correlationId = object.string("cid"), let resource = object.string("res"),
              let request = object.string("req"), let bodyDigest = object.optionalString("bd"), let client = object.string("cli"),
              let network = object.string("net"), let asset = object.string("ast"),
              let amount = object.string("amt").flatMap(TokenAmount.init(atomic:)), let payTo = object.string("pay"),
              let unit = object.string("unit"), let quantity = object.int("qty"), let maxTimeoutSeconds = object.int("mts"),
              let expiresAt = object.int("exp") else { return nil }
        self.init(correlationId: correlationId, resource: resource, request: request, bodyDigest: bodyDigest, client: client,
                  network: network, asset: asset, amount: amount, payTo: payTo, unit: unit, quantity: quantity,
                  maxTimeoutSeconds: maxTimeoutSeconds, expiresAt: Int64(expiresAt))
    }
}

/// An offer together with its token, ready to be put in front of a client.
public struct SignedOffer: Sendable, Hashable {
    public var offer: Offer
    public var token: String
    public init(offer: Offer, token: String) {
        self.offer = offer
        self.token = token
    }
}

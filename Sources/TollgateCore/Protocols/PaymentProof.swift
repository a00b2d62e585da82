/// A proof of payment in Tollgate's neutral form. Only the rail adapter knows the wire format;
/// everything else reads these fields.
public struct PaymentProof: Sendable, Hashable {
    /// The terms the client says it accepted (echoed from an offer).
    public struct Accepted: Sendable, Hashable {
        public var scheme: String
        public var network: String
        public var asset: String
        public var amount: String
        public var payTo: String
        public var maxTimeoutSeconds: Int?
        /// The signed offer token the client echoed, if any.
        public var offerToken: String?

        public init(scheme: String, network: String, asset: String, amount: String, payTo: String,
                    maxTimeoutSeconds: Int?, offerToken: String?) {
            self.scheme = scheme
            self.network = network
            self.asset = asset
            self.amount = amount
            self.payTo = payTo
            self.maxTimeoutSeconds = maxTimeoutSeconds
            self.offerToken = offerToken
        }
    }

    public var rail: String
    public var network: String
    public var asset: String
    /// The payer's address as signed (`authorization.from`).
    public var payer: String
    public var payee: String
    /// Atomic amount as a decimal string.
    public var amount: String
    public var nonce: String
    public var validAfter: String
    public var validBefore: String
    /// The payer's signature over the authorization, as sent (hex).
    public var signature: String
    public var accepted: Accepted
    /// The proof exactly as received (decoded JSON), kept for the facilitator and as evidence.
    public var raw: [UInt8]
    /// The payload as the rail that decoded it passes it on (re-encoded from the checked values), made once when the
    /// proof is decoded so verifying and settling do not decode and encode it again; nil when the rail makes it later.
    public var onwardPayload: [UInt8]?
    /// The client's idempotency key for this payment (x402 `payment-identifier` extension), if any.
    public var paymentIdentifier: String?
    /// The key under which this proof is claimed exactly once, built by the rail from the decoded values
    /// (never from the strings the client sent), so every spelling of one authorization is one key.
    public var key: ProofKey

    /// `key` defaults to the case-normalised strings, for rails whose values have one spelling only.
    public init(rail: String, network: String, asset: String, payer: String, payee: String, amount: String,
                nonce: String, validAfter: String, validBefore: String, signature: String, accepted: Accepted, raw: [UInt8],
                paymentIdentifier: String? = nil, key: ProofKey? = nil, onwardPayload: [UInt8]? = nil) {
        self.key = key ?? ProofKey(network: network, asset: asset, payer: payer, nonce: nonce)
        self.onwardPayload = onwardPayload
        self.paymentIdentifier = paymentIdentifier
        self.signature = signature
        self.rail = rail
        self.network = network
        self.asset = asset
        self.payer = payer
        self.payee = payee
        self.amount = amount
        self.nonce = nonce
        self.validAfter = validAfter
        self.validBefore = validBefore
        self.accepted = accepted
        self.raw = raw
    }
}

/// What identifies a proof for single use: (network, asset, payer, nonce). An EVM rail passes the chain as
/// `eip155:<decimal id>`, addresses as `0x` + 40 lowercase hex digits and the nonce as `0x` + 64.
public struct ProofKey: Sendable, Hashable, Codable, CustomStringConvertible {
    public let network: String
    public let asset: String
    public let payer: String
    public let nonce: String

    public init(network: String, asset: String, payer: String, nonce: String) {
        self.network = network
        self.asset = asset.lowercased()
        self.payer = payer.lowercased()
        self.nonce = nonce.lowercased()
    }

    public var description: String { "\(network)/\(asset)/\(payer)/\(nonce)" }
}

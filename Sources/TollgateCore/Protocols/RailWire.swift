import HTTPTypes

/// How a rail speaks on the wire: its header names, its proof format in words, and its own reason codes for
/// what the journey must tell apart. Core holds no wire strings of any rail; a 402, a stripped request and a
/// refusal say what the rails declare here.
public struct RailWire: Sendable {
    /// Fields a client may carry a proof in (all of them are removed before a request goes upstream).
    public var proofFields: [HTTPField.Name]
    /// Fields of the rail's answers a browser client may read (CORS `Access-Control-Expose-Headers`).
    public var exposedFields: [HTTPField.Name]
    /// The proof format, for people reading a 402 (`x402 v2 (scheme exact), header PAYMENT-SIGNATURE`).
    public var proofFormat: String
    /// What a client without a proof should do, for people (`retry with a PAYMENT-SIGNATURE …`).
    public var paymentHint: String
    /// The rail's reason for an authorization already used (a replay); clients know it by this name.
    public var authorizationUsed: Reason
    /// The rail's reason for an authorization past its validity: the proof may still be a late retry of its own purchase.
    public var authorizationExpired: Reason
    /// Refusals that depend only on the proof's bytes (and time moving forward), so the same bytes can be
    /// refused again without being checked (`NegativeCache`).
    public var deterministicRefusals: Set<Reason>
    /// Whether the rail's proofs echo the signed offer they pay. A proof that cannot (x402 v1) is bound to the request it
    /// arrives with, its client and the current price instead (`Journey.bindToRequest`).
    public var echoesOffers: Bool
    /// The rail's reason for a proof in its format on a route that does not take this rail (`Route.rails`).
    public var formatRefused: Reason
    /// The rail's refusals that mean the proof's terms (amount, payee) differ from the current ones. For a rail whose
    /// proofs echo no offer, such a proof may be the retry of a purchase made at earlier terms (`Journey.lookUpBoundRetry`).
    public var termsRefusals: Set<Reason>

    public init(proofFields: [HTTPField.Name], exposedFields: [HTTPField.Name], proofFormat: String, paymentHint: String,
                authorizationUsed: Reason, authorizationExpired: Reason, deterministicRefusals: Set<Reason>,
                echoesOffers: Bool = true, formatRefused: Reason = .offerMissing, termsRefusals: Set<Reason> = []) {
        self.termsRefusals = termsRefusals
        self.echoesOffers = echoesOffers
        self.formatRefused = formatRefused
        self.proofFields = proofFields
        self.exposedFields = exposedFields
        self.proofFormat = proofFormat
        self.paymentHint = paymentHint
        self.authorizationUsed = authorizationUsed
        self.authorizationExpired = authorizationExpired
        self.deterministicRefusals = deterministicRefusals
    }
}

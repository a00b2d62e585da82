/// Why a request was refused or stopped. The raw values are the codes clients, logs and the audit
/// trail see; x402 codes are reused where x402 has one so that stock clients understand them.
/// Encoded as its bare string (the standard library's `RawRepresentable` coding).
public struct Reason: RawRepresentable, Sendable, Hashable, CustomStringConvertible, Codable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    // operator controls and limits
    public static let clientRevoked = Reason("client_revoked")
    public static let payerRevoked = Reason("payer_revoked")
    public static let incident = Reason("incident")
    public static let spendCapExceeded = Reason("spend_cap_exceeded")
    public static let quotaExceeded = Reason("quota_exceeded")
    public static let invalidQuantity = Reason("invalid_quantity")
    public static func rateLimited(_ trafficClass: TrafficClass) -> Reason { Reason("rate_limited_\(trafficClass.rawValue)") }
    // identify / authorize
    public static let missingCredentials = Reason("missing_credentials")
    public static let unknownAPIKey = Reason("unknown_api_key")
    public static let invalidToken = Reason("invalid_token")
    public static let missingScope = Reason("missing_scope")
    public static let noRoute = Reason("no_route")
    // offer
    public static let paymentRequired = Reason("payment_required")
    // proof and offer match
    public static let invalidPayload = Reason("invalid_payload")
    public static let offerMissing = Reason("offer_missing")
    public static let offerInvalid = Reason("offer_invalid")
    public static let offerExpired = Reason("offer_expired")
    public static let offerClientMismatch = Reason("offer_client_mismatch")
    public static let offerResourceMismatch = Reason("offer_resource_mismatch")
    public static let offerTermsMismatch = Reason("offer_terms_mismatch")
    public static let offerAlreadyUsed = Reason("offer_already_used")
    public static let paymentIdentifierConflict = Reason("payment_identifier_conflict")
    // availability
    public static let facilitatorUnavailable = Reason("facilitator_unavailable")
    public static let storeUnavailable = Reason("store_unavailable")
    public static let upstreamUnavailable = Reason("upstream_unavailable")
    public static let upstreamResponseTooLarge = Reason("upstream_response_too_large")
    public static let settlementPending = Reason("settlement_pending")
    /// The proof is being used by an earlier request that has not ended: nothing is decided about this copy yet.
    public static let paymentInProgress = Reason("payment_in_progress")
    public static let settlementUnknown = Reason("settlement_unknown")
    /// The payment was refunded or put under review while its work ran: the answer is not served.
    public static let settlementClosed = Reason("settlement_closed")
    /// A delivered payment's settlement changed while its kept answer was being served again (its first delivery was
    /// lost and the flow reopened, or it was refunded): the same proof again is answered as it now stands.
    public static let settlementChanged = Reason("settlement_changed")
    // outcomes
    public static let delivered = Reason("delivered")
    public static let upstreamRefused = Reason("upstream_refused")
    public static let settlementFailed = Reason("settlement_failed")
    /// The answer to a settled request could not be written to the client.
    public static let connectionFailed = Reason("connection_failed")
    // housekeeping of flows that never ended
    /// A prepaid request never finished its unit hold; the units went back to the balance.
    public static let unitsLapsed = Reason("units_lapsed")
    /// A prepaid request finished after its hold lapsed: its consumption was taken from the balance as far as it went.
    public static let unitsSpentAfterLapse = Reason("units_spent_after_lapse")
    /// A claim was never settled and its authorization expired; the spend it held went back to its caps.
    public static let claimLapsed = Reason("claim_lapsed")
}

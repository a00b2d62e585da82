/// The codes of refused support requests (trace, dispute, evidence export), thrown as `TollgateError`; a refusal
/// about one dispute names it in `disputeId`. An invalid reason, resolution or actor is `.invalid`.
extension TollgateError.Code {
    /// The trace key is none of the accepted forms.
    public static let malformedKey = Self("malformed_key")
    /// No audit event carries this correlation id.
    public static let unknownFlow = Self("unknown_flow")
    /// No dispute has this id.
    public static let unknownDispute = Self("unknown_dispute")
    /// The flow already has an open dispute (its id is in `disputeId`).
    public static let disputeAlreadyOpen = Self("dispute_already_open")
    /// The dispute is closed already (its id is in `disputeId`).
    public static let disputeNotOpen = Self("dispute_not_open")
}

extension TollgateError {
    /// A refused support request about one dispute.
    public init(_ code: Code, _ message: String, disputeId: String) {
        self.init(code, message, details: ["disputeId": disputeId])
    }

    /// The dispute a support refusal is about (`disputeAlreadyOpen`, `disputeNotOpen`).
    public var disputeId: String? { details["disputeId"] }
}

/// Why a support request (trace, dispute, evidence export) was refused.
///
/// A struct with a code, like `TollgateError`: new codes can be added without breaking callers.
public struct SupportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable identifier of the kind of refusal.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The trace key is none of the accepted forms.
        public static let malformedKey = Code(rawValue: "malformed_key")
        /// No audit event carries this correlation id.
        public static let unknownFlow = Code(rawValue: "unknown_flow")
        /// No dispute has this id.
        public static let unknownDispute = Code(rawValue: "unknown_dispute")
        /// The flow already has an open dispute (its id is in `disputeId`).
        public static let disputeAlreadyOpen = Code(rawValue: "dispute_already_open")
        /// The dispute is closed already.
        public static let disputeNotOpen = Code(rawValue: "dispute_not_open")
        /// A reason, resolution or actor that is empty or too long.
        public static let invalid = Code(rawValue: "invalid")
    }

    public var code: Code
    public var message: String
    /// The dispute the refusal is about, when there is one (`disputeAlreadyOpen`, `disputeNotOpen`).
    public var disputeId: String?

    public init(_ code: Code, _ message: String, disputeId: String? = nil) {
        self.code = code
        self.message = message
        self.disputeId = disputeId
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// The one error type Tollgate's own code throws when a failure has a code: a stable machine-readable code,
/// a human message, and optional details (what the failure is about, such as the dispute id).
///
/// A struct with an open set of codes rather than a public enum, so that new codes can be added without
/// breaking callers. Each domain declares its codes as `TollgateError.Code` constants next to the code that
/// throws them (audit log, refunds, support, `tollgate init`, the development facilitator); the HTTP adapter
/// and the CLI map codes to statuses and exit codes. Failures that carry other structured data keep their own
/// types (`RailFailure`, `ConfigurationError`, validation refusals).
public struct TollgateError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable identifier of the kind of failure; its `rawValue` is what users and clients see.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let invalidConfiguration = Code("invalid_configuration")
        public static let storeUnavailable = Code("store_unavailable")
        public static let facilitatorUnavailable = Code("facilitator_unavailable")
        public static let upstreamUnavailable = Code("upstream_unavailable")
        public static let invalidInput = Code("invalid_input")
        /// Nothing is recorded for what was named (for a refund: no flow with this correlation id was paid or spent units).
        public static let notFound = Code("not_found")
        /// A value that is not acceptable: a refund's amount, reason or transaction id; a dispute's reason,
        /// resolution or actor that is empty or too long; an answer of `tollgate init`.
        public static let invalid = Code("invalid")
        /// Another process sharing the store holds the claim now (its lease is live): this one took longer than the
        /// grace and the claim was taken over; it must not settle or release it.
        public static let claimHeldElsewhere = Code("claim_held_elsewhere")
    }

    public var code: Code
    public var message: String
    /// What the failure is about, by name (`disputeId`, `network`, `field`); empty when the message says it all.
    public var details: [String: String]

    public init(_ code: Code, _ message: String, details: [String: String] = [:]) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { "\(code): \(message)" }
}

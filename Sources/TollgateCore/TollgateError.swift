/// An error raised by Tollgate's own code: a stable machine-readable code plus a human message.
///
/// Errors are structs with a code rather than public enums so that new codes can be added without
/// breaking callers; the HTTP adapter maps codes to statuses.
public struct TollgateError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable identifier of the kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let invalidConfiguration = Code("invalid_configuration")
        public static let storeUnavailable = Code("store_unavailable")
        public static let facilitatorUnavailable = Code("facilitator_unavailable")
        public static let upstreamUnavailable = Code("upstream_unavailable")
        public static let invalidInput = Code("invalid_input")
        public static let notFound = Code("not_found")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

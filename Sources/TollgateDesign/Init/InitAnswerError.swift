/// One answer of `tollgate init` that is missing, malformed or at odds with another.
///
/// A struct with a code, like `TollgateError`: new codes can be added without breaking callers.
public struct InitAnswerError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A required answer was not given (non-interactive mode lists them all).
        public static let missing = Code(rawValue: "missing")
        /// The answer is not acceptable on its own (a bad URL, address, price, unknown unit…).
        public static let invalid = Code(rawValue: "invalid")
        /// The answer contradicts another one (a scope on a resource open to anonymous payers…).
        public static let conflict = Code(rawValue: "conflict")
        /// The answers file has a key that no question asks.
        public static let unknownKey = Code(rawValue: "unknown_key")
        /// The input ended before every question was answered.
        public static let aborted = Code(rawValue: "aborted")
    }

    public var code: Code
    /// The answer's path in the answers file (`billing.pay_to`).
    public var field: String
    /// Why, in the asker's terms.
    public var message: String

    public init(_ code: Code, field: String, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public static func invalid(_ field: String, _ message: String) -> Self { .init(.invalid, field: field, message) }
    public static func missing(_ field: String, _ message: String) -> Self { .init(.missing, field: field, message) }
    public static func conflict(_ field: String, _ message: String) -> Self { .init(.conflict, field: field, message) }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}
